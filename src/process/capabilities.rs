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
    // The three sets in one capset, which the kernel checks against the sets held before it:
    // a capability the container may inherit but not hold (runc accepts it) can be added while
    // the permitted set is still the runtime's, and effective must be within the new permitted.
    // (caps::set takes a capget and a capset a set.)
    let mask = |names: &[String]| parse(names).iter().fold(0u64, |m, c| m | c.bitmask());
    let (e, p, i) = (mask(effective), mask(permitted), mask(inheritable));
    let data = [0, 32].map(|shift| CapData {
        effective: (e >> shift) as u32,
        permitted: (p >> shift) as u32,
        inheritable: (i >> shift) as u32,
    });
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: capset reads the header and the two data structs of a version 3 call.
    if unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("capset (effective, permitted, inheritable)");
    }
    caps::clear(None, CapSet::Ambient).context("clear ambient")?;
    for cap in parse(ambient) {
        caps::raise(None, CapSet::Ambient, cap).with_context(|| format!("raise ambient {cap}"))?;
    }
    Ok(())
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// struct __user_cap_header_struct.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// struct __user_cap_data_struct: version 3 takes two, for capabilities 0-31 and 32-63.
#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
