//! Which config.json fields scrun applies. Every other field of the runtime spec that a config
//! sets is refused, naming it: a field accepted and then not applied would leave the container
//! without what its author asked for, and nobody reads warnings an engine captures.
//!
//! Paths are JSON paths with `[]` for an array's elements and `*` for a map's keys; an array of
//! plain values, and a map of them (annotations, sysctl, unified), is one field. A field is set
//! when the config gives it a value other than null, 0, false, "" or []: engines written in Go
//! send a zero for what they leave unset (docker's `update` sends `memory.kernel: 0`), and runc
//! and the spec read those zeros as unset. An empty object is set: `"intelRdt": {}` asks runc
//! for a resctrl group of the container's own. tests/field_coverage.rs traces
//! oci-spec's types to check that this list names only real fields, each with a test that
//! sees it applied, and that setting any other field fails `create` naming it.

use anyhow::{bail, Result};
use serde_json::Value;

/// The fields scrun applies, each with the test (`file::function` under tests/) that sees it
/// applied, or refused naming it on a host without what it needs (an LSM, a cgroup controller).
/// One entry a line.
#[rustfmt::skip]
pub const HONOURED: &[(&str, &str)] = &[
    ("ociVersion", "bad_input::missing_and_unsupported_oci_version"),
    ("root.path", "smoke::report_shows_an_isolated_container"),
    ("root.readonly", "container::readonly_root_refuses_writes_and_writable_root_accepts_them"),
    ("mounts[].destination", "container::bind_mounts_of_files_and_directories_rw_and_ro"),
    ("mounts[].type", "container::tmpfs_mount_gets_its_options"),
    ("mounts[].source", "container::bind_mounts_of_files_and_directories_rw_and_ro"),
    ("mounts[].options", "container::tmpfs_mount_gets_its_options"),
    ("mounts[].uidMappings[].containerID", "mounts::mount_mappings_show_stored_ids_mapped_and_writes_land_mapped_back"),
    ("mounts[].uidMappings[].hostID", "mounts::mount_mappings_show_stored_ids_mapped_and_writes_land_mapped_back"),
    ("mounts[].uidMappings[].size", "mounts::mount_mappings_show_stored_ids_mapped_and_writes_land_mapped_back"),
    ("mounts[].gidMappings[].containerID", "mounts::mount_mappings_show_stored_ids_mapped_and_writes_land_mapped_back"),
    ("mounts[].gidMappings[].hostID", "mounts::mount_mappings_show_stored_ids_mapped_and_writes_land_mapped_back"),
    ("mounts[].gidMappings[].size", "mounts::mount_mappings_show_stored_ids_mapped_and_writes_land_mapped_back"),
    ("process.terminal", "container::terminal_gives_the_container_a_pty_of_its_own"),
    ("process.consoleSize.height", "field_coverage::console_size_is_the_ptys_window_size"),
    ("process.consoleSize.width", "field_coverage::console_size_is_the_ptys_window_size"),
    ("process.user.uid", "container::user_groups_and_umask_are_applied"),
    ("process.user.gid", "container::user_groups_and_umask_are_applied"),
    ("process.user.umask", "container::user_groups_and_umask_are_applied"),
    ("process.user.additionalGids", "container::user_groups_and_umask_are_applied"),
    ("process.args", "smoke::report_shows_an_isolated_container"),
    ("process.env", "container::env_is_exactly_the_configured_one_and_cwd_is_created"),
    ("process.cwd", "container::env_is_exactly_the_configured_one_and_cwd_is_created"),
    ("process.capabilities.bounding", "container::root_gets_the_configured_sets"),
    ("process.capabilities.effective", "container::root_gets_the_configured_sets"),
    ("process.capabilities.inheritable", "container::root_gets_the_configured_sets"),
    ("process.capabilities.permitted", "container::root_gets_the_configured_sets"),
    ("process.capabilities.ambient", "container::root_gets_the_configured_sets"),
    ("process.rlimits[].type", "container::rlimits_are_set"),
    ("process.rlimits[].hard", "container::rlimits_are_set"),
    ("process.rlimits[].soft", "container::rlimits_are_set"),
    ("process.noNewPrivileges", "container::no_new_privileges_follows_the_config"),
    ("process.apparmorProfile", "resources::an_lsm_label_that_cannot_be_applied_is_refused"),
    ("process.selinuxLabel", "field_coverage::selinux_labels_without_selinux_are_refused"),
    ("process.oomScoreAdj", "container::oom_score_adj_is_set"),
    ("process.ioPriority.class", "process_fields::scheduler_and_io_priority_are_what_the_process_runs_with"),
    ("process.ioPriority.priority", "process_fields::scheduler_and_io_priority_are_what_the_process_runs_with"),
    ("process.scheduler.policy", "process_fields::scheduler_and_io_priority_are_what_the_process_runs_with"),
    ("process.scheduler.nice", "process_fields::scheduler_and_io_priority_are_what_the_process_runs_with"),
    ("process.scheduler.priority", "process_fields::scheduler_and_io_priority_are_what_the_process_runs_with"),
    ("process.scheduler.flags", "process_fields::scheduler_and_io_priority_are_what_the_process_runs_with"),
    ("process.scheduler.runtime", "process_fields::scheduler_and_io_priority_are_what_the_process_runs_with"),
    ("process.scheduler.deadline", "process_fields::scheduler_and_io_priority_are_what_the_process_runs_with"),
    ("process.scheduler.period", "process_fields::scheduler_and_io_priority_are_what_the_process_runs_with"),
    ("process.execCPUAffinity.initial", "process_fields::exec_cpu_affinity_and_scheduling_of_execd_processes"),
    ("process.execCPUAffinity.final", "process_fields::exec_cpu_affinity_and_scheduling_of_execd_processes"),
    ("hostname", "container::hostname_and_domainname_are_set"),
    ("domainname", "container::hostname_and_domainname_are_set"),
    ("hooks.prestart[].path", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.prestart[].args", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.prestart[].env", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.prestart[].timeout", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.createRuntime[].path", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.createRuntime[].args", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.createRuntime[].env", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.createRuntime[].timeout", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.createContainer[].path", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.createContainer[].args", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.createContainer[].env", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.createContainer[].timeout", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.startContainer[].path", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.startContainer[].args", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.startContainer[].env", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.startContainer[].timeout", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.poststart[].path", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.poststart[].args", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.poststart[].env", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.poststart[].timeout", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.poststop[].path", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.poststop[].args", "hooks::every_hook_runs_at_its_point_with_the_state"),
    ("hooks.poststop[].env", "field_coverage::every_hook_gets_its_env_and_timeout"),
    ("hooks.poststop[].timeout", "field_coverage::every_hook_gets_its_env_and_timeout"),
    // Free-form metadata: applied by handing it on, in `state` and to every hook.
    ("annotations", "lifecycle::create_start_kill_delete"),
    ("linux.uidMappings[].containerID", "container::user_namespace_maps_root_to_an_unprivileged_host_uid"),
    ("linux.uidMappings[].hostID", "container::user_namespace_maps_root_to_an_unprivileged_host_uid"),
    ("linux.uidMappings[].size", "container::user_namespace_maps_root_to_an_unprivileged_host_uid"),
    ("linux.gidMappings[].containerID", "container::user_namespace_maps_root_to_an_unprivileged_host_uid"),
    ("linux.gidMappings[].hostID", "container::user_namespace_maps_root_to_an_unprivileged_host_uid"),
    ("linux.gidMappings[].size", "container::user_namespace_maps_root_to_an_unprivileged_host_uid"),
    ("linux.sysctl", "container::sysctl_is_applied_inside_the_container"),
    ("linux.netDevices.*.name", "process_fields::net_devices_move_in_renamed_and_up_with_their_addresses"),
    ("linux.resources.devices[].allow", "resources::device_rules_hold_inside_the_container_with_v1_and_with_the_cgroup2_filter"),
    ("linux.resources.devices[].type", "resources::device_rules_hold_inside_the_container_with_v1_and_with_the_cgroup2_filter"),
    ("linux.resources.devices[].major", "resources::device_rules_hold_inside_the_container_with_v1_and_with_the_cgroup2_filter"),
    ("linux.resources.devices[].minor", "resources::device_rules_hold_inside_the_container_with_v1_and_with_the_cgroup2_filter"),
    ("linux.resources.devices[].access", "resources::device_rules_hold_inside_the_container_with_v1_and_with_the_cgroup2_filter"),
    ("linux.resources.memory.limit", "resources::limits_are_set_before_the_program_runs_and_seen_inside"),
    ("linux.resources.memory.reservation", "cgroups::memory_cpu_pids_written_as_asked"),
    ("linux.resources.memory.swap", "cgroups::memory_cpu_pids_written_as_asked"),
    ("linux.resources.memory.swappiness", "cgroups::memory_cpu_pids_written_as_asked"),
    ("linux.resources.memory.disableOOMKiller", "cgroups::memory_cpu_pids_written_as_asked"),
    ("linux.resources.memory.useHierarchy", "cgroups::memory_use_hierarchy_and_check_before_update"),
    ("linux.resources.memory.checkBeforeUpdate", "cgroups::memory_use_hierarchy_and_check_before_update"),
    ("linux.resources.cpu.shares", "resources::limits_are_set_before_the_program_runs_and_seen_inside"),
    ("linux.resources.cpu.quota", "resources::limits_are_set_before_the_program_runs_and_seen_inside"),
    ("linux.resources.cpu.period", "resources::limits_are_set_before_the_program_runs_and_seen_inside"),
    ("linux.resources.cpu.idle", "cgroups::cpu_idle_burst_and_realtime"),
    ("linux.resources.cpu.burst", "cgroups::cpu_idle_burst_and_realtime"),
    ("linux.resources.cpu.realtimeRuntime", "cgroups::cpu_idle_burst_and_realtime"),
    ("linux.resources.cpu.realtimePeriod", "cgroups::cpu_idle_burst_and_realtime"),
    ("linux.resources.cpu.cpus", "cgroups::new_cpuset_cgroups_get_the_parents_cpus_and_mems"),
    ("linux.resources.cpu.mems", "cgroups::new_cpuset_cgroups_get_the_parents_cpus_and_mems"),
    ("linux.resources.pids.limit", "resources::limits_are_set_before_the_program_runs_and_seen_inside"),
    ("linux.resources.blockIO.weight", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.weightDevice[].major", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.weightDevice[].minor", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.weightDevice[].weight", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleReadBpsDevice[].major", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleReadBpsDevice[].minor", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleReadBpsDevice[].rate", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleWriteBpsDevice[].major", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleWriteBpsDevice[].minor", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleWriteBpsDevice[].rate", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleReadIOPSDevice[].major", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleReadIOPSDevice[].minor", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleReadIOPSDevice[].rate", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleWriteIOPSDevice[].major", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleWriteIOPSDevice[].minor", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.blockIO.throttleWriteIOPSDevice[].rate", "cgroups::blkio_weight_and_throttle"),
    ("linux.resources.network.classID", "cgroup_comount::a_comounted_hierarchy_is_in_the_container_with_its_symlinks_and_limits"),
    ("linux.resources.network.priorities[].name", "cgroup_comount::a_comounted_hierarchy_is_in_the_container_with_its_symlinks_and_limits"),
    ("linux.resources.network.priorities[].priority", "cgroup_comount::a_comounted_hierarchy_is_in_the_container_with_its_symlinks_and_limits"),
    ("linux.resources.hugepageLimits[].pageSize", "cgroups::hugetlb_limits"),
    ("linux.resources.hugepageLimits[].limit", "cgroups::hugetlb_limits"),
    ("linux.resources.unified", "cgroups::unified_only_for_controllers_on_cgroup2"),
    ("linux.cgroupsPath", "resources::cgroups_path_from_the_config_is_used_and_removed"),
    ("linux.namespaces[].type", "smoke::report_shows_an_isolated_container"),
    ("linux.namespaces[].path", "container::joining_a_namespace_by_path_shares_it"),
    ("linux.devices[].path", "container::linux_devices_are_created_with_their_owner_and_mode"),
    ("linux.devices[].type", "container::linux_devices_are_created_with_their_owner_and_mode"),
    ("linux.devices[].major", "container::linux_devices_are_created_with_their_owner_and_mode"),
    ("linux.devices[].minor", "container::linux_devices_are_created_with_their_owner_and_mode"),
    ("linux.devices[].fileMode", "container::linux_devices_are_created_with_their_owner_and_mode"),
    ("linux.devices[].uid", "container::linux_devices_are_created_with_their_owner_and_mode"),
    ("linux.devices[].gid", "container::linux_devices_are_created_with_their_owner_and_mode"),
    ("linux.seccomp.defaultAction", "seccomp::errno_with_errno_ret_and_eperm_default"),
    ("linux.seccomp.defaultErrnoRet", "seccomp::default_errno_ret_with_allow_list"),
    ("linux.seccomp.architectures", "seccomp::deny_list_blocks_a_syscall_newer_than_libseccomp"),
    ("linux.seccomp.flags", "seccomp::filter_flags"),
    ("linux.seccomp.listenerPath", "seccomp_notify::the_agent_answers_the_containers_notified_syscalls"),
    ("linux.seccomp.listenerMetadata", "seccomp_notify::the_agent_answers_the_containers_notified_syscalls"),
    ("linux.seccomp.syscalls[].names", "seccomp::errno_with_errno_ret_and_eperm_default"),
    ("linux.seccomp.syscalls[].action", "seccomp::kill_process_kills_with_sigsys"),
    ("linux.seccomp.syscalls[].errnoRet", "seccomp::errno_with_errno_ret_and_eperm_default"),
    ("linux.seccomp.syscalls[].args[].index", "seccomp::arg_condition_eq_allows_one_value_and_denies_another"),
    ("linux.seccomp.syscalls[].args[].value", "seccomp::arg_condition_eq_allows_one_value_and_denies_another"),
    ("linux.seccomp.syscalls[].args[].valueTwo", "seccomp::arg_condition_masked_eq_uses_value_as_mask_and_value_two_as_datum"),
    ("linux.seccomp.syscalls[].args[].op", "seccomp::arg_condition_masked_eq_uses_value_as_mask_and_value_two_as_datum"),
    ("linux.rootfsPropagation", "container::rootfs_propagation_applies_to_the_containers_root_only"),
    ("linux.maskedPaths", "container::masked_paths_read_empty_and_cannot_be_written"),
    ("linux.readonlyPaths", "container::readonly_paths_refuse_writes"),
    ("linux.mountLabel", "field_coverage::selinux_labels_without_selinux_are_refused"),
    ("linux.memoryPolicy.mode", "process_fields::memory_policy_is_the_processs"),
    ("linux.memoryPolicy.nodes", "process_fields::memory_policy_is_the_processs"),
    ("linux.memoryPolicy.flags", "process_fields::memory_policy_is_the_processs"),
    ("linux.personality.domain", "process_fields::personality_linux32_makes_uname_say_i686"),
    // runtime-spec defines no flag: any is refused, naming it, by the personality step.
    ("linux.personality.flags", "process_fields::unknown_or_unsupported_values_are_refused_by_field"),
    ("linux.timeOffsets.*.secs", "namespaces::offsets_shift_the_containers_clocks"),
    ("linux.timeOffsets.*.nanosecs", "namespaces::offsets_shift_the_containers_clocks"),
];

/// Refused fields that `features` declares unsupported in a field of its own (the JSON pointer
/// into the features document), so a client can know before it asks.
pub const DECLARED: &[(&str, &str)] = &[
    ("linux.intelRdt", "/linux/intelRdt/enabled"),
    ("linux.resources.rdma", "/linux/cgroup/rdma"),
];

/// The Linux config fields each runtime-spec release added after 1.0.0, from the releases'
/// schema/ (hack/spec-fields.py prints them). Fields of other platforms are left out
/// (windows, solaris, vm, zos, freebsd, process.commandLine), and so are changes of what a
/// value may be: 1.2.0 allows a relative mounts[].destination, which scrun refuses.
#[rustfmt::skip]
pub const ADDED: &[(&str, &str)] = &[
    ("1.0.1", "linux.intelRdt.l3CacheSchema"),
    ("1.0.1", "linux.resources.blockIO.throttleReadIOPSDevice[].major"),
    ("1.0.1", "linux.resources.blockIO.throttleReadIOPSDevice[].minor"),
    ("1.0.1", "linux.resources.blockIO.throttleReadIOPSDevice[].rate"),
    ("1.0.1", "linux.resources.blockIO.throttleWriteIOPSDevice[].major"),
    ("1.0.1", "linux.resources.blockIO.throttleWriteIOPSDevice[].minor"),
    ("1.0.1", "linux.resources.blockIO.throttleWriteIOPSDevice[].rate"),
    ("1.0.2", "hooks.createContainer[].args"),
    ("1.0.2", "hooks.createContainer[].env"),
    ("1.0.2", "hooks.createContainer[].path"),
    ("1.0.2", "hooks.createContainer[].timeout"),
    ("1.0.2", "hooks.createRuntime[].args"),
    ("1.0.2", "hooks.createRuntime[].env"),
    ("1.0.2", "hooks.createRuntime[].path"),
    ("1.0.2", "hooks.createRuntime[].timeout"),
    ("1.0.2", "hooks.startContainer[].args"),
    ("1.0.2", "hooks.startContainer[].env"),
    ("1.0.2", "hooks.startContainer[].path"),
    ("1.0.2", "hooks.startContainer[].timeout"),
    ("1.0.2", "linux.intelRdt.closID"),
    ("1.0.2", "linux.intelRdt.memBwSchema"),
    ("1.0.2", "linux.personality.domain"),
    ("1.0.2", "linux.personality.flags"),
    ("1.0.2", "linux.resources.memory.useHierarchy"),
    ("1.0.2", "linux.resources.rdma.*.hcaHandles"),
    ("1.0.2", "linux.resources.rdma.*.hcaObjects"),
    ("1.0.2", "linux.seccomp.flags"),
    ("1.0.2", "process.user.umask"),
    ("1.1.0", "domainname"),
    ("1.1.0", "linux.intelRdt.enableCMT"),
    ("1.1.0", "linux.intelRdt.enableMBM"),
    ("1.1.0", "linux.resources.cpu.burst"),
    ("1.1.0", "linux.resources.cpu.idle"),
    ("1.1.0", "linux.resources.memory.checkBeforeUpdate"),
    ("1.1.0", "linux.resources.unified"),
    ("1.1.0", "linux.seccomp.defaultErrnoRet"),
    ("1.1.0", "linux.seccomp.listenerMetadata"),
    ("1.1.0", "linux.seccomp.listenerPath"),
    ("1.1.0", "linux.seccomp.syscalls[].errnoRet"),
    ("1.1.0", "linux.timeOffsets.*.nanosecs"),
    ("1.1.0", "linux.timeOffsets.*.secs"),
    ("1.1.0", "mounts[].gidMappings[].containerID"),
    ("1.1.0", "mounts[].gidMappings[].hostID"),
    ("1.1.0", "mounts[].gidMappings[].size"),
    ("1.1.0", "mounts[].uidMappings[].containerID"),
    ("1.1.0", "mounts[].uidMappings[].hostID"),
    ("1.1.0", "mounts[].uidMappings[].size"),
    ("1.1.0", "process.ioPriority.class"),
    ("1.1.0", "process.ioPriority.priority"),
    ("1.1.0", "process.scheduler.deadline"),
    ("1.1.0", "process.scheduler.flags"),
    ("1.1.0", "process.scheduler.nice"),
    ("1.1.0", "process.scheduler.period"),
    ("1.1.0", "process.scheduler.policy"),
    ("1.1.0", "process.scheduler.priority"),
    ("1.1.0", "process.scheduler.runtime"),
    ("1.2.1", "process.execCPUAffinity.final"),
    ("1.2.1", "process.execCPUAffinity.initial"),
    ("1.3.0", "linux.intelRdt.enableMonitoring"),
    ("1.3.0", "linux.intelRdt.schemata"),
    ("1.3.0", "linux.memoryPolicy.flags"),
    ("1.3.0", "linux.memoryPolicy.mode"),
    ("1.3.0", "linux.memoryPolicy.nodes"),
    ("1.3.0", "linux.netDevices.*.name"),
];

/// The runtime-spec releases, oldest first. 1.2.0 added no config field.
pub const RELEASES: &[&str] = &["1.0.0", "1.0.1", "1.0.2", "1.1.0", "1.2.0", "1.2.1", "1.3.0"];

/// The newest release all of whose added fields scrun applies (or declares unsupported in
/// `features`). Fields 1.0.0 already had and scrun refuses (linux.resources.network,
/// memory.kernel and kernelTCP, blockIO leaf weights) do not lower it: they are the base
/// that ociVersionMin names.
pub fn oci_version_max() -> &'static str {
    let applied = |path: &str| is_honoured(path) || DECLARED.iter().any(|(p, _)| under(path, p));
    let first_gap = ADDED
        .iter()
        .filter(|(_, path)| !applied(path))
        .filter_map(|(v, _)| RELEASES.iter().position(|r| r == v))
        .min()
        .unwrap_or(RELEASES.len());
    RELEASES[first_gap.max(1) - 1]
}

pub fn is_honoured(pattern: &str) -> bool {
    SORTED.binary_search(&pattern).is_ok()
}

/// HONOURED's paths, sorted when scrun is compiled: every config.json is checked against them
/// at every create (a scan of the whole list for every key of the config cost ~0.3 ms, sorting
/// it at each start 90 k instructions).
static SORTED: [&str; HONOURED.len()] = sorted();

const fn sorted<const N: usize>() -> [&'static str; N] {
    let mut list = [""; N];
    let mut i = 0;
    // Insertion sort: const fns have neither sort_unstable nor str's Ord.
    while i < N {
        let path = HONOURED[i].0;
        let mut j = i;
        while j > 0 && str_less(path, list[j - 1]) {
            list[j] = list[j - 1];
            j -= 1;
        }
        list[j] = path;
        i += 1;
    }
    list
}

/// `a < b` as str's Ord has it (bytewise), for a const fn.
const fn str_less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

/// `path` is `prefix` or a field inside it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Whether some honoured field lies inside `pattern` (so it is an object to look into).
fn holds_honoured(pattern: &str) -> bool {
    honoured_under(pattern, false)
}

/// Whether an honoured path is `prefix` itself (when `itself`) or inside it. Those paths all
/// start with `prefix`, so they sit together in the sorted list, from where it would go.
fn honoured_under(prefix: &str, itself: bool) -> bool {
    let from = SORTED.partition_point(|p| *p < prefix);
    SORTED[from..]
        .iter()
        .take_while(|p| p.starts_with(prefix))
        .any(|p| (itself || *p != prefix) && under(p, prefix))
}

/// Refuse the fields that `raw` sets and scrun does not apply. `unknown` are the paths of the
/// fields the runtime spec does not know (the parser's warning, not refused here); `at` is
/// where `raw` sits in config.json ("" for the whole of it).
pub fn refuse_unapplied(raw: &Value, unknown: &[String], at: &str) -> Result<()> {
    let mut refused = Vec::new();
    walk(raw, unknown, &mut at.to_string(), &mut at.to_string(), &mut refused);
    if !refused.is_empty() {
        bail!("{}: not supported by scrun", refused.join(", "));
    }
    Ok(())
}

/// `pattern` (the field's path in HONOURED's terms) and `path` (where it is in this config) are
/// one buffer each, grown and cut back as the walk goes: a String per key of the config was
/// a third of the walk's cost.
fn walk(raw: &Value, unknown: &[String], pattern: &mut String, path: &mut String, out: &mut Vec<String>) {
    let (pattern_len, path_len) = (pattern.len(), path.len());
    match raw {
        Value::Object(r) => {
            push_key(pattern, "*");
            let map = honoured_under(pattern, true);
            pattern.truncate(pattern_len);
            for (key, value) in r.iter().filter(|(_, v)| !v.is_null()) {
                push_key(pattern, if map { "*" } else { key });
                push_key(path, key);
                if !is_honoured(pattern) && !unknown.contains(path) {
                    if holds_honoured(pattern) {
                        walk(value, unknown, pattern, path, out);
                    } else if !is_zero(value) {
                        out.push(path.clone());
                    }
                }
                pattern.truncate(pattern_len);
                path.truncate(path_len);
            }
        }
        Value::Array(r) => {
            pattern.push_str("[]");
            for (i, v) in r.iter().enumerate() {
                push_index(path, i);
                walk(v, unknown, pattern, path, out);
                path.truncate(path_len);
            }
            pattern.truncate(pattern_len);
        }
        _ => {}
    }
}

/// Appends `.key` to a JSON path, or `key` to the empty one.
pub fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// Appends `[i]` to a JSON path.
pub fn push_index(path: &mut String, i: usize) {
    use std::fmt::Write;
    let _ = write!(path, "[{i}]");
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(config: Value) -> String {
        match crate::spec::parse(config.to_string().as_bytes()) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_set_field_outside_the_list_is_named() {
        let base = json!({"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}}});
        assert_eq!(refused(base.clone()), "ok");
        let mut c = base.clone();
        c["linux"] = json!({"intelRdt": {}, "resources": {"memory": {"limit": 1, "kernel": 1}}});
        assert_eq!(
            refused(c.clone()),
            "linux.intelRdt, linux.resources.memory.kernel: not supported by scrun"
        );
        // docker's update: zeros for what it leaves unset.
        c["linux"] = json!({"resources": {"memory": {"kernel": 0, "kernelTCP": 0}, "blockIO": {"leafWeight": 0}}});
        c["uidMappings"] = json!([]);
        c["process"]["commandLine"] = json!("");
        assert_eq!(refused(c), "ok");
        let mut c = base.clone();
        c["process"]["user"]["username"] = json!("root");
        c["linux"] = json!({"intelRdt": null, "hugo": 1, "sysctl": {"net.x": "1"}});
        assert_eq!(refused(c), "process.user.username: not supported by scrun");
        let mut c = base;
        c["mounts"] = json!([{"destination": "/a"}, {"destination": "/b", "uidMappings": []}]);
        c["linux"] = json!({"timeOffsets": {"monotonic": {"secs": 1}}, "resources": {"rdma": {"m": {}}}});
        assert_eq!(refused(c), "linux.resources.rdma: not supported by scrun");
    }

    #[test]
    fn oci_version_max_is_the_newest_release_whose_added_fields_are_applied() {
        // Every field through 1.3.0 is applied, intelRdt and rdma aside, which features
        // declares off.
        assert_eq!(oci_version_max(), "1.3.0");
    }
}
