//! linux.personality: the execution domain, kept across exec (LINUX32 makes uname report a
//! 32-bit machine).

use super::scheduling::lookup;
use anyhow::{bail, Result};
use oci_spec::runtime::LinuxPersonality;

/// The domains runtime-spec names, and their values in linux/personality.h.
pub const DOMAINS: [(&str, libc::c_ulong); 2] = [("LINUX", 0x0000), ("LINUX32", 0x0008)];

/// The domain to set. runtime-spec defines no flag; runc warns about any and crun ignores
/// them, but a flag asked for and not applied would be a silent difference: refused.
pub fn from_spec(p: &LinuxPersonality) -> Result<String> {
    if let Some(flag) = p.flags().iter().flatten().next() {
        bail!("linux.personality.flags[0]: {flag:?} is not supported: runtime-spec defines no personality flag");
    }
    Ok(p.domain().to_string())
}

pub fn set(domain: &str) -> Result<()> {
    // SAFETY: personality takes one integer.
    if unsafe { libc::personality(lookup(&DOMAINS, domain)?) } < 0 {
        bail!("personality: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
