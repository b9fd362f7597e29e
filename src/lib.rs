//! scrun: a small, fast and secure OCI container runtime.
//!
//! `create` is one clone: the runtime (launch) computes a plan from config.json, clones the
//! container's init with the plan's namespaces, and talks to it over one sync channel; the
//! init (init) carries out the plan's steps and waits for `start`.

pub mod argv;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod diagnose;
pub mod hooks;
pub mod html;
pub mod idmap;
pub mod init;
pub mod launch;
pub mod logging;
pub mod memory;
pub mod mountinfo;
pub mod namespaces;
pub mod netdev;
pub mod netlink;
pub mod plan;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod rootless;
pub mod scratch;
pub mod sealed_exe;
pub mod spec;
pub mod startup;
pub mod state;
pub mod sync;
pub mod tty;
