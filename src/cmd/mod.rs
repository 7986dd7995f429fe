//! One module per subcommand.
pub mod check;
pub mod convert;
pub mod explore;
pub mod replay;
pub mod rules;
pub mod run;
pub mod show;
pub mod shrink;
pub mod validate;
pub mod worker;
