use crate::cli::{DeleteArgs, GlobalOpts};
use crate::state::{Container, Status, Store};
use anyhow::{bail, Context, Result};
use std::os::fd::AsRawFd;

pub fn delete(global: &GlobalOpts, args: &DeleteArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = match store.load(&args.id) {
        Ok(c) => c,
        // containerd's shim always runs a second `delete --force` after the container is gone.
        Err(_) if args.force && crate::state::check_id(&args.id).is_ok() => {
            let _ = std::fs::remove_dir_all(store.dir(&args.id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    remove(container, args.force)
}

/// Remove a container: a created one is killed first (as runc does), a running one only with
/// `force`.
pub fn remove(container: Container, force: bool) -> Result<()> {
    match container.status() {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&container)?,
        Status::Running if force => kill_and_wait(&container)?,
        Status::Running => bail!(
            "cannot delete container {} that is not stopped: running",
            container.saved.id
        ),
    }
    container.remove()
}

fn kill_and_wait(container: &Container) -> Result<()> {
    let pid = container.saved.pid;
    // A pidfd pins the process: the signal cannot reach a recycled pid, and poll says when it
    // is gone even though it is not our child.
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Ok(()); // already gone
    }
    // SAFETY: the fd was just returned to us.
    let pidfd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    if crate::state::start_time(pid) != Some(container.saved.pid_start_time) {
        return Ok(());
    }
    // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo.
    if unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), libc::SIGKILL, 0usize, 0) } < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(e).context("kill the container's process");
        }
    }
    let mut pfd = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&pidfd),
        nix::poll::PollFlags::POLLIN,
    )];
    nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10_000u16))
        .context("wait for the container's process to exit")?;
    Ok(())
}
