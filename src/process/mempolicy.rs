//! linux.memoryPolicy: the NUMA policy the container's process allocates memory under, set
//! with set_mempolicy by the process itself (it is per thread, kept across fork and exec).

use super::scheduling::{lookup, IdSet};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxMemoryPolicy;
use serde::Serialize;

pub const MODES: [(&str, i32); 7] = [
    ("MPOL_DEFAULT", 0),
    ("MPOL_PREFERRED", 1),
    ("MPOL_BIND", 2),
    ("MPOL_INTERLEAVE", 3),
    ("MPOL_LOCAL", 4),
    ("MPOL_PREFERRED_MANY", 5),
    ("MPOL_WEIGHTED_INTERLEAVE", 6),
];

pub const FLAGS: [(&str, i32); 3] = [
    ("MPOL_F_NUMA_BALANCING", 1 << 13),
    ("MPOL_F_RELATIVE_NODES", 1 << 14),
    ("MPOL_F_STATIC_NODES", 1 << 15),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryPolicy {
    pub mode: String,
    pub flags: Vec<String>,
    pub nodes: Option<IdSet>,
}

impl MemoryPolicy {
    /// The modes that take no node and those that need one (set_mempolicy(2)) are told apart
    /// here, where the error can name the field; the kernel's EINVAL would not say why.
    pub fn from_spec(p: &LinuxMemoryPolicy) -> Result<MemoryPolicy> {
        let mode = p.mode().to_string();
        let nodes = match p.nodes().as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(list) => Some(IdSet::parse(list).context("linux.memoryPolicy.nodes")?),
            None => None,
        };
        match (mode.as_str(), &nodes) {
            ("MPOL_DEFAULT" | "MPOL_LOCAL", Some(_)) => {
                bail!("linux.memoryPolicy.nodes: {mode} takes no nodes")
            }
            ("MPOL_BIND" | "MPOL_INTERLEAVE" | "MPOL_WEIGHTED_INTERLEAVE" | "MPOL_PREFERRED_MANY", None) => {
                bail!("linux.memoryPolicy.nodes: {mode} needs at least one node")
            }
            _ => {}
        }
        Ok(MemoryPolicy {
            mode,
            flags: p.flags().iter().flatten().map(|f| f.to_string()).collect(),
            nodes,
        })
    }

    pub fn set(&self) -> Result<()> {
        let mut mode = lookup(&MODES, &self.mode)?;
        for flag in &self.flags {
            mode |= lookup(&FLAGS, flag)?;
        }
        let (mask, maxnode) = match &self.nodes {
            // The kernel reads maxnode - 1 bits.
            Some(nodes) => (nodes.words().as_ptr(), nodes.words().len() * 64 + 1),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: set_mempolicy reads maxnode - 1 bits from mask, which holds that many.
        if unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, mask, maxnode) } != 0 {
            bail!("set_mempolicy: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl std::fmt::Display for MemoryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.mode)?;
        if let Some(nodes) = &self.nodes {
            write!(f, " nodes {nodes}")?;
        }
        if !self.flags.is_empty() {
            write!(f, " flags {}", self.flags.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> String {
        let p: LinuxMemoryPolicy = serde_json::from_value(v).unwrap();
        MemoryPolicy::from_spec(&p).map_or_else(|e| format!("{e:#}"), |p| p.to_string())
    }

    #[test]
    fn nodes_are_checked_against_the_mode() {
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0,1-2", "flags": ["MPOL_F_STATIC_NODES"]})),
            "MPOL_BIND nodes 0-2 flags MPOL_F_STATIC_NODES"
        );
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_LOCAL", "nodes": ""})),
            "MPOL_LOCAL"
        );
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0"})),
            "linux.memoryPolicy.nodes: MPOL_DEFAULT takes no nodes"
        );
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_INTERLEAVE"})),
            "linux.memoryPolicy.nodes: MPOL_INTERLEAVE needs at least one node"
        );
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-a"})),
            "linux.memoryPolicy.nodes: \"a\" is not a number"
        );
    }
}
