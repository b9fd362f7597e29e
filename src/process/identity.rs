//! Who the container process is: supplementary groups, gid, uid, umask.

use anyhow::{Context, Result};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

pub fn set(proc: &crate::procfs::Proc, uid: u32, gid: u32, additional_gids: &[u32], umask: Option<u32>) -> Result<()> {
    // Keep the permitted capabilities across a change to a uid other than 0 (the kernel clears
    // them then); the capability step then sets exactly the sets config.json asks for. To uid
    // 0 nothing is cleared: no prctl either side.
    let keep = uid != 0;
    if keep {
        nix::sys::prctl::set_keepcaps(true).context("keep capabilities")?;
    }
    let groups: Vec<Gid> = additional_gids.iter().map(|&g| Gid::from_raw(g)).collect();
    // In a user namespace where setgroups is denied, only an empty list is already true. Asked
    // only once the kernel refuses, and of the runtime's /proc: a "deny" in a /proc the image
    // or the container made would keep the runtime's own groups.
    if let Err(e) = setgroups(&groups) {
        let denied = || proc.read("self/setgroups").is_ok_and(|s| s.trim() == "deny");
        if !(e == nix::errno::Errno::EPERM && groups.is_empty() && denied()) {
            return Err(e).with_context(|| format!("setgroups {additional_gids:?}"));
        }
    }
    let g = Gid::from_raw(gid);
    setresgid(g, g, g).with_context(|| format!("setgid {gid}"))?;
    let u = Uid::from_raw(uid);
    setresuid(u, u, u).with_context(|| format!("setuid {uid}"))?;
    if keep {
        nix::sys::prctl::set_keepcaps(false).context("reset keep capabilities")?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask.unwrap_or(0o022)));
    Ok(())
}
