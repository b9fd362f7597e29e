//! One function per subcommand.

pub mod create;
pub mod debug;
pub mod delete;
pub mod exec;
pub mod explain;
pub mod features;
pub mod inspect;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;
