//! The container process's own setup, last before exec: identity, capabilities, rlimits, and the
//! exec itself.

pub mod capabilities;
pub mod exec;
pub mod identity;
pub mod rlimits;
pub mod seccomp;
pub mod seccomp_agent;
