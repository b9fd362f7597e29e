//! A uid or gid mapping of a user namespace (linux.uidMappings, an idmapped mount's): a leaf
//! module, shared by the plan, the namespaces it makes and the mounts it idmaps.

use oci_spec::runtime::LinuxIdMapping;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

impl From<&LinuxIdMapping> for IdMap {
    fn from(m: &LinuxIdMapping) -> Self {
        IdMap {
            container_id: m.container_id(),
            host_id: m.host_id(),
            size: m.size(),
        }
    }
}
