//! The container's /dev. Where each part is set up:
//!
//! - /dev itself, /dev/pts, /dev/shm and /dev/mqueue are ordinary entries of config.json's
//!   `mounts` (the default spec has all four: a tmpfs, a devpts with `newinstance`, a tmpfs and an
//!   mqueue), planned and mounted like any other by `rootfs/mounts`.
//! - `nodes.rs`: the device nodes (runc's defaults when /dev is not bound from the host, plus
//!   linux.devices), made by mknod or, in a user namespace, bound from the host.
//! - `symlinks.rs`: /dev/fd, /dev/std{in,out,err}, /dev/ptmx, /dev/core.
//! - `pts.rs`: the pty the init opens in the container's devpts for `process.terminal`.
//! - `console.rs`: that pty's slave bound over /dev/console.
//!
//! Which of these a container gets is decided when the plan is built (`plan/mod.rs`: the nodes
//! and symlinks only when /dev is not a bind mount); the init carries them out (`init.rs`).

pub mod console;
pub mod nodes;
pub mod pts;
pub mod symlinks;
