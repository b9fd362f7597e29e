//! The five capability sets. The bounding set is limited while the init still has
//! CAP_SETPCAP (before the uid change); the others are set after it.

use anyhow::{Context, Result};
use caps::{CapSet, Capability, CapsHashSet};
use std::str::FromStr;

fn parse(names: &[String]) -> CapsHashSet {
    names
        .iter()
        .filter_map(|n| match Capability::from_str(n) {
            Ok(c) => Some(c),
            Err(_) => {
                crate::logging::warn(&format!("capability {n} is unknown to scrun; ignored"));
                None
            }
        })
        .collect()
}

/// Drops every capability the kernel knows but `names` does not keep. A capability this kernel
/// predates is EINVAL: nothing to drop. (Asking the kernel first which it knows, as
/// caps::runtime::thread_all_supported does, costs one prctl a capability on every start.)
pub fn limit_bounding(names: &[String]) -> Result<()> {
    let keep = parse(names);
    for cap in caps::all() {
        if keep.contains(&cap) {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number and touches no memory of ours.
        let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap.index()), 0, 0, 0) };
        let err = std::io::Error::last_os_error();
        if ret != 0 && err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err).with_context(|| format!("drop {cap} from the bounding set"));
        }
    }
    Ok(())
}

/// `ambient` holds only capabilities the plan found both permitted and inheritable.
pub fn set(effective: &[String], permitted: &[String], inheritable: &[String], ambient: &[String]) -> Result<()> {
    // Inheritable first, while the permitted set is still the runtime's: a capability the
    // container may inherit but not hold (runc accepts it) can only be added then. Then effective
    // before permitted, as effective must stay within permitted at every call.
    caps::set(None, CapSet::Inheritable, &parse(inheritable)).context("inheritable")?;
    caps::set(None, CapSet::Effective, &parse(effective)).context("effective")?;
    caps::set(None, CapSet::Permitted, &parse(permitted)).context("permitted")?;
    caps::clear(None, CapSet::Ambient).context("clear ambient")?;
    for cap in parse(ambient) {
        caps::raise(None, CapSet::Ambient, cap).with_context(|| format!("raise ambient {cap}"))?;
    }
    Ok(())
}
