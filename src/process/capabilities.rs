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

pub fn set(effective: &[String], permitted: &[String], inheritable: &[String], ambient: &[String]) -> Result<()> {
    // Order matters to capset: effective must stay within permitted at every call.
    caps::set(None, CapSet::Effective, &parse(effective)).context("effective")?;
    caps::set(None, CapSet::Permitted, &parse(permitted)).context("permitted")?;
    caps::set(None, CapSet::Inheritable, &parse(inheritable)).context("inheritable")?;
    caps::clear(None, CapSet::Ambient).context("clear ambient")?;
    // The kernel only raises an ambient capability that is both permitted and inheritable;
    // runc's own default config asks for ambient ones without inheritable, and runc then skips
    // them, so a warning (not a failure) keeps such configs running.
    let allowed = caps::read(None, CapSet::Inheritable).context("read inheritable")?;
    for cap in parse(ambient) {
        if allowed.contains(&cap) {
            caps::raise(None, CapSet::Ambient, cap).with_context(|| format!("raise ambient {cap}"))?;
        } else {
            tracing::debug!("ambient capability {cap} skipped: it is not in process.capabilities.inheritable");
        }
    }
    Ok(())
}
