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

pub fn limit_bounding(names: &[String]) -> Result<()> {
    let keep = parse(names);
    for cap in caps::runtime::thread_all_supported() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).with_context(|| format!("drop {cap} from the bounding set"))?;
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
