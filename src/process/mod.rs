//! The container process's own setup, last before exec: identity, capabilities, rlimits,
//! scheduling, memory policy, personality, and the exec itself.

pub mod capabilities;
pub mod exec;
pub mod identity;
pub mod mempolicy;
pub mod mini_init;
pub mod personality;
pub mod rlimits;
pub mod scheduling;
pub mod seccomp;
pub mod seccomp_agent;
