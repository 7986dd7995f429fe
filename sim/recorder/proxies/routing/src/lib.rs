//! The faxsim recording proxy for a fax routing extension. Everything lives in
//! `faxsim-recorder`; this library only holds the exports the fax service looks for
//! (see `docs/recorder.md`).

faxsim_recorder::proxy!(routing);
