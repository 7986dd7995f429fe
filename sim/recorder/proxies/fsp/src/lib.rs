//! The faxsim recording proxy for a fax service provider (FSP). Everything lives in
//! `faxsim-recorder`; this library only holds the exports the fax service looks for
//! (see `docs/recorder.md`).

faxsim_recorder::proxy!(fsp);
