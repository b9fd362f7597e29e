//! linux.resources → cgroup files, v1 or v2 per controller, in runc's order and with runc's
//! conversions. A zero that engines send to mean "unset" (docker: cpu.shares 0, blockIO.weight 0)
//! is never written.

use super::{device_filter, host, read, read_opt, write, Cgroup, Dir};
use anyhow::{anyhow, bail, Result};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxHugepageLimit, LinuxMemory, LinuxNetwork,
    LinuxResources,
};
use std::collections::HashMap;
use std::path::Path;

pub fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    if let Some(cpu) = r.cpu() {
        cpuset(cg, cpu)?;
        self::cpu(cg, cpu)?;
    }
    if let Some(p) = r.pids() {
        pids(cg, p.limit())?;
    }
    if let Some(d) = r.devices() {
        devices(cg, d)?;
    }
    if let Some(m) = r.memory() {
        memory(cg, m)?;
    }
    if let Some(b) = r.block_io() {
        blkio(cg, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb(cg, h)?;
    }
    if let Some(n) = r.network() {
        network(cg, n)?;
    }
    if let Some(u) = r.unified() {
        unified(cg, u)?;
    }
    Ok(())
}

/// The controller's directory, or an error saying which setting needed it.
fn need<'a>(cg: &'a Cgroup, controller: &str, setting: &str) -> Result<Dir<'a>> {
    let dir = cg
        .locate(controller)
        .ok_or_else(|| anyhow!("{setting}: this host has no {controller} cgroup controller"))?;
    if let Dir::V2(d) = dir {
        if let Some(h) = host().v2.as_ref().filter(|_| !host().v2_only) {
            super::enable_controllers(&h.mount, d, Some(controller));
        }
        let enabled = read(d, "cgroup.controllers")?;
        if !enabled.split_whitespace().any(|c| c == controller) {
            bail!(
                "{setting}: the {controller} controller is not enabled for {} (missing from its \
                 parent's cgroup.subtree_control)",
                d.display()
            );
        }
    }
    Ok(dir)
}

fn memory(cg: &Cgroup, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    let reservation = m.reservation().unwrap_or(0);
    if limit == 0
        && swap == 0
        && reservation == 0
        && m.disable_oom_killer() != Some(true)
        && m.swappiness().is_none()
        && m.use_hierarchy().is_none()
    {
        return Ok(());
    }
    match need(cg, "memory", "linux.resources.memory")? {
        Dir::V1(d) => {
            // Current kernels always account hierarchically and refuse a 0, naming the file.
            if let Some(h) = m.use_hierarchy() {
                write(d, "memory.use_hierarchy", if h { "1" } else { "0" })?;
            }
            // checkBeforeUpdate needs nothing here: v1 itself refuses a limit below the usage.
            memory_and_swap_v1(d, limit, swap)?;
            if reservation != 0 {
                write(d, "memory.soft_limit_in_bytes", &reservation.to_string())?;
            }
            if m.disable_oom_killer() == Some(true) {
                write(d, "memory.oom_control", "1")?;
            }
            if let Some(s) = m.swappiness() {
                if s > 100 {
                    bail!(
                        "write {s} to {}: swappiness must be 0 to 100",
                        d.join("memory.swappiness").display()
                    );
                }
                write(d, "memory.swappiness", &s.to_string())?;
            }
        }
        Dir::V2(d) => {
            if m.disable_oom_killer() == Some(true) {
                bail!("linux.resources.memory.disableOOMKiller: cgroup v2 cannot turn the OOM killer off");
            }
            if m.swappiness().is_some() {
                bail!("linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness");
            }
            if m.use_hierarchy() == Some(false) {
                bail!("linux.resources.memory.useHierarchy: cgroup v2 always accounts hierarchically");
            }
            // v2 would take the limit and OOM-kill; the spec's switch asks for v1's refusal.
            if m.check_before_update() == Some(true) && limit > 0 {
                let usage: i64 = read(d, "memory.current")?.parse().unwrap_or(0);
                if limit < usage {
                    bail!("linux.resources.memory.limit {limit} is below the usage {usage} (checkBeforeUpdate)");
                }
            }
            let swap_max = swap_v2(swap, limit)?;
            if swap_max != 0 {
                if read_opt(d, "memory.swap.max")?.is_some() {
                    write(d, "memory.swap.max", &max_or(swap_max))?;
                } else {
                    tracing::warn!(
                        "memory swap limit not set: this kernel has no memory.swap.max (swap accounting off)"
                    );
                }
            }
            if limit != 0 {
                write(d, "memory.max", &max_or(limit))?;
            }
            if reservation != 0 {
                write(d, "memory.low", &max_or(reservation))?;
            }
        }
    }
    Ok(())
}

/// The spec's swap is v1's memory+swap; memory.swap.max is swap alone (runc's conversion).
fn swap_v2(swap: i64, limit: i64) -> Result<i64> {
    Ok(match (swap, limit) {
        // Unlimited memory with swap left out means unlimited swap too, as on v1.
        (0, -1) => -1,
        (0 | -1, _) => swap,
        (_, 0 | -1) => bail!("linux.resources.memory.swap {swap} needs a memory limit on cgroup v2"),
        (s, l) if s < l => bail!("linux.resources.memory.swap {s} is below the memory limit {l}"),
        (s, l) => s - l,
    })
}

/// memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes at every step, so when the
/// new memsw is above the current limit it goes first, else last (runc's order).
fn memory_and_swap_v1(d: &Path, limit: i64, swap: i64) -> Result<()> {
    let has_memsw = read_opt(d, "memory.memsw.limit_in_bytes")?.is_some();
    // Unlimited memory with swap left out means unlimited swap too.
    let swap = match (limit, swap) {
        (-1, 0) if has_memsw => -1,
        _ => swap,
    };
    let swap = if swap != 0 && !has_memsw {
        tracing::warn!(
            "memory swap limit not set: this kernel has no memory.memsw.limit_in_bytes (swap accounting off)"
        );
        0
    } else {
        swap
    };
    let set_limit = || {
        if limit != 0 {
            write(d, "memory.limit_in_bytes", &limit.to_string())
        } else {
            Ok(())
        }
    };
    let set_swap = || {
        if swap != 0 {
            write(d, "memory.memsw.limit_in_bytes", &swap.to_string())
        } else {
            Ok(())
        }
    };
    let current: u64 = read(d, "memory.limit_in_bytes")?.parse().unwrap_or(u64::MAX);
    if limit != 0 && (swap == -1 || (swap > 0 && current < swap as u64)) {
        set_swap()?;
        set_limit()
    } else {
        set_limit()?;
        set_swap()
    }
}

fn cpu(cg: &Cgroup, c: &LinuxCpu) -> Result<()> {
    let shares = c.shares().unwrap_or(0);
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    let rt_runtime = c.realtime_runtime().unwrap_or(0);
    let rt_period = c.realtime_period().unwrap_or(0);
    if shares == 0
        && quota == 0
        && period == 0
        && rt_runtime == 0
        && rt_period == 0
        && c.idle().is_none()
        && c.burst().is_none()
    {
        return Ok(());
    }
    match need(cg, "cpu", "linux.resources.cpu")? {
        Dir::V1(d) => {
            if shares != 0 {
                write(d, "cpu.shares", &shares.to_string())?;
                // The kernel clamps out-of-range shares silently.
                let got = read(d, "cpu.shares")?;
                if got != shares.to_string() {
                    bail!(
                        "write {shares} to {}: the kernel set {got} (out of range)",
                        d.join("cpu.shares").display()
                    );
                }
            }
            // A smaller period can be refused (EINVAL) until the quota is lowered too: then
            // write the quota first and the period again after it.
            let mut period_left = false;
            if period != 0 {
                if let Err(e) = write(d, "cpu.cfs_period_us", &period.to_string()) {
                    if quota == 0 || !e.to_string().ends_with("invalid argument") {
                        return Err(e);
                    }
                    period_left = true;
                }
            }
            if quota != 0 {
                write(d, "cpu.cfs_quota_us", &quota.to_string())?;
                if period_left {
                    write(d, "cpu.cfs_period_us", &period.to_string())?;
                }
            }
            if let Some(b) = c.burst() {
                write(d, "cpu.cfs_burst_us", &b.to_string())?;
            }
            if let Some(i) = c.idle() {
                write(d, "cpu.idle", &i.to_string())?;
            }
            if rt_period != 0 {
                write(d, "cpu.rt_period_us", &rt_period.to_string())?;
            }
            if rt_runtime != 0 {
                write(d, "cpu.rt_runtime_us", &rt_runtime.to_string())?;
            }
        }
        Dir::V2(d) => {
            if rt_runtime != 0 || rt_period != 0 {
                bail!("linux.resources.cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no realtime cpu limits");
            }
            if shares != 0 {
                write(d, "cpu.weight", &shares_to_weight(shares).to_string())?;
            }
            if quota != 0 || period != 0 {
                // cpu.max takes both; keep the half that was not asked for.
                let current = read(d, "cpu.max")?;
                let mut parts = current.split_whitespace();
                let (old_quota, old_period) = (parts.next().unwrap_or("max"), parts.next().unwrap_or("100000"));
                let q = if quota > 0 {
                    quota.to_string()
                } else if quota < 0 {
                    "max".into()
                } else {
                    old_quota.into()
                };
                let p = if period != 0 {
                    period.to_string()
                } else {
                    old_period.into()
                };
                write(d, "cpu.max", &format!("{q} {p}"))?;
            }
            if let Some(b) = c.burst() {
                write(d, "cpu.max.burst", &b.to_string())?;
            }
            if let Some(i) = c.idle() {
                write(d, "cpu.idle", &i.to_string())?;
            }
        }
    }
    Ok(())
}

/// runc's mapping of cpu.shares [2, 262144] onto cpu.weight [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262144);
    1 + ((shares - 2) * 9999) / 262142
}

fn cpuset(cg: &Cgroup, c: &LinuxCpu) -> Result<()> {
    let cpus = c.cpus().as_deref().unwrap_or("");
    let mems = c.mems().as_deref().unwrap_or("");
    if cpus.is_empty() && mems.is_empty() {
        return Ok(());
    }
    let d = need(cg, "cpuset", "linux.resources.cpu.cpus/mems")?.path();
    if !cpus.is_empty() {
        write(d, "cpuset.cpus", cpus)?;
    }
    if !mems.is_empty() {
        write(d, "cpuset.mems", mems)?;
    }
    Ok(())
}

fn pids(cg: &Cgroup, limit: i64) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    let d = need(cg, "pids", "linux.resources.pids")?.path();
    write(d, "pids.max", &if limit > 0 { limit.to_string() } else { "max".into() })
}

/// net_cls and net_prio are v1 controllers only (cgroup2 has no counterpart). A class id of 0
/// means unset, as in runc.
fn network(cg: &Cgroup, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id().filter(|id| *id != 0) {
        let d = need(cg, "net_cls", "linux.resources.network.classID")?.path();
        write(d, "net_cls.classid", &id.to_string())?;
    }
    for (i, p) in n.priorities().iter().flatten().enumerate() {
        let d = need(cg, "net_prio", &format!("linux.resources.network.priorities[{i}]"))?.path();
        write(d, "net_prio.ifpriomap", &format!("{} {}", p.name(), p.priority()))?;
    }
    Ok(())
}

fn blkio(cg: &Cgroup, b: &LinuxBlockIo) -> Result<()> {
    let weight = b.weight().unwrap_or(0);
    let devices = b.weight_device().as_deref().unwrap_or_default();
    let throttles = [
        (b.throttle_read_bps_device(), "read_bps_device", "rbps"),
        (b.throttle_write_bps_device(), "write_bps_device", "wbps"),
        (b.throttle_read_iops_device(), "read_iops_device", "riops"),
        (b.throttle_write_iops_device(), "write_iops_device", "wiops"),
    ];
    let any_throttle = throttles
        .iter()
        .any(|(t, ..)| t.as_ref().is_some_and(|t| !t.is_empty()));
    if weight == 0 && devices.is_empty() && !any_throttle {
        return Ok(());
    }
    let v1 = cg.locate("blkio");
    let dir = match v1 {
        Some(d) => d,
        None => need(cg, "io", "linux.resources.blockIO")?,
    };
    match dir {
        Dir::V1(d) => {
            // CFQ's blkio.weight is gone from current kernels; BFQ has the same range.
            let bfq = read_opt(d, "blkio.weight")?.is_none() && read_opt(d, "blkio.bfq.weight")?.is_some();
            let prefix = if bfq { "blkio.bfq." } else { "blkio." };
            if weight != 0 {
                write(d, &format!("{prefix}weight"), &weight.to_string())?;
            }
            for wd in devices {
                if let Some(w) = wd.weight() {
                    write(
                        d,
                        &format!("{prefix}weight_device"),
                        &format!("{}:{} {w}", wd.major(), wd.minor()),
                    )?;
                }
            }
            for (list, file, _) in &throttles {
                for t in list.as_deref().unwrap_or_default() {
                    write(
                        d,
                        &format!("blkio.throttle.{file}"),
                        &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                    )?;
                }
            }
        }
        Dir::V2(d) => {
            let bfq = read_opt(d, "io.bfq.weight")?.is_some();
            // io.weight is [1, 10000]; blkio weights are [10, 1000] like io.bfq.weight.
            let convert = |w: u16| {
                if bfq {
                    w as u64
                } else {
                    1 + (w.clamp(10, 1000) as u64 - 10) * 9999 / 990
                }
            };
            let file = if bfq { "io.bfq.weight" } else { "io.weight" };
            if weight != 0 {
                write(d, file, &convert(weight).to_string())?;
            }
            for wd in devices {
                if let Some(w) = wd.weight() {
                    write(d, file, &format!("{}:{} {}", wd.major(), wd.minor(), convert(w)))?;
                }
            }
            for (list, _, key) in &throttles {
                for t in list.as_deref().unwrap_or_default() {
                    write(d, "io.max", &format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()))?;
                }
            }
        }
    }
    Ok(())
}

fn hugetlb(cg: &Cgroup, limits: &[LinuxHugepageLimit]) -> Result<()> {
    if limits.is_empty() {
        return Ok(());
    }
    let dir = need(cg, "hugetlb", "linux.resources.hugepageLimits")?;
    let sizes = host().hugepage_sizes();
    for l in limits {
        let size = l.page_size();
        if !sizes.contains(size) {
            bail!(
                "linux.resources.hugepageLimits: page size {size:?} is not one of this host's ({})",
                sizes.join(", ")
            );
        }
        let (d, v1) = match dir {
            Dir::V1(d) => (d, true),
            Dir::V2(d) => (d, false),
        };
        let value = match (l.limit(), v1) {
            (n, _) if n >= 0 => n.to_string(),
            (_, true) => "-1".into(),
            (_, false) => "max".into(),
        };
        let (file, rsvd) = if v1 {
            (
                format!("hugetlb.{size}.limit_in_bytes"),
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
            )
        } else {
            (format!("hugetlb.{size}.max"), format!("hugetlb.{size}.rsvd.max"))
        };
        write(d, &file, &value)?;
        // Reservations are charged separately (kernel 5.7+); limit them alike, as runc does.
        if read_opt(d, &rsvd)?.is_some() {
            write(d, &rsvd, &value)?;
        }
    }
    Ok(())
}

fn devices(cg: &Cgroup, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    // Compiled first, wherever the rules go: a bad rule fails before anything is written.
    let program = device_filter::program(rules)?;
    match (cg.locate("devices"), cg.saved.v2.as_deref()) {
        (Some(dir), _) => {
            // From a deny-all start, as the cgroup2 filter: a fresh v1 cgroup inherits its
            // parent's allow-all, which rules that do not begin with an "a" rule would keep.
            let mut allow = super::File::new(dir.path(), "devices.allow");
            let mut deny = super::File::new(dir.path(), "devices.deny");
            if rules[0].typ().unwrap_or(LinuxDeviceType::A) != LinuxDeviceType::A {
                deny.write("a")?;
            }
            // Written in order: the usual "deny all" first empties the list, then the allows
            // refill it.
            for rule in rules {
                let file = if rule.allow() { &mut allow } else { &mut deny };
                file.write(&device_line(rule))?;
            }
            Ok(())
        }
        // Only without a v1 devices controller, as runc and crun: on a hybrid host the filter
        // would repeat what v1 enforces, at the cost of a program load on every create.
        (None, Some(v2)) => device_filter::attach(v2, &program),
        (None, None) => bail!("linux.resources.devices: this host has no devices cgroup controller"),
    }
}

/// The v1 line of a rule that device_filter::program has accepted.
fn device_line(rule: &LinuxDeviceCgroup) -> String {
    let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => unreachable!("device_filter::program refuses fifo rules"),
    };
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map_or("*".to_string(), |n| n.to_string());
    let access = rule.access().as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm");
    format!("{typ} {}:{} {access}", num(rule.major()), num(rule.minor()))
}

/// The devices every container may use, which runc appends after the config's own rules.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true)
            .set_typ(Some(typ))
            .set_major(major)
            .set_minor(minor)
            .set_access(Some(access.into()));
        r
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),    // null
        rule(C, Some(1), Some(8), "rwm"),    // random
        rule(C, Some(1), Some(7), "rwm"),    // full
        rule(C, Some(5), Some(0), "rwm"),    // tty
        rule(C, Some(1), Some(5), "rwm"),    // zero
        rule(C, Some(1), Some(9), "rwm"),    // urandom
        rule(C, Some(5), Some(1), "rwm"),    // console
        rule(C, Some(136), None, "rwm"),     // pts
        rule(C, Some(5), Some(2), "rwm"),    // ptmx
        rule(C, Some(10), Some(200), "rwm"), // net/tun
    ]
}

/// linux.resources.unified: raw cgroup2 files, each checked to belong to a controller that this
/// cgroup drives through cgroup2 (on a hybrid host most are v1, and writing there would be
/// silently meaningless).
fn unified(cg: &Cgroup, map: &HashMap<String, String>) -> Result<()> {
    if map.is_empty() {
        return Ok(());
    }
    let Some(d) = cg.saved.v2.as_deref() else {
        bail!("linux.resources.unified: this host has no cgroup2 hierarchy");
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let controller = key.split('.').next().unwrap_or("");
        if key.contains('/') || !key.contains('.') || controller.is_empty() {
            bail!("linux.resources.unified: {key:?} is not a cgroup file name");
        }
        if controller != "cgroup" {
            if host().v1_for(controller).is_some() {
                bail!("linux.resources.unified: {key}: the {controller} controller is on cgroup v1 on this host");
            }
            need(cg, controller, &format!("linux.resources.unified: {key}"))?;
        }
        write(d, key, &map[key])?;
    }
    Ok(())
}

fn max_or(n: i64) -> String {
    if n < 0 {
        "max".into()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversion_matches_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(1), 1);
    }

    #[test]
    fn swap_becomes_swap_alone_on_v2() {
        assert_eq!(swap_v2(200, 100).unwrap(), 100);
        assert_eq!(swap_v2(100, 100).unwrap(), 0);
        assert_eq!(swap_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_v2(-1, 100).unwrap(), -1);
        assert_eq!(swap_v2(0, 100).unwrap(), 0);
        assert!(swap_v2(50, 100).is_err());
        assert!(swap_v2(50, 0).is_err());
    }

    #[test]
    fn device_lines() {
        let rules = default_device_rules();
        assert_eq!(device_line(&rules[0]), "c *:* m");
        assert_eq!(device_line(&rules[9]), "c 136:* rwm");
        let deny_all = LinuxDeviceCgroup::default();
        assert_eq!(device_line(&deny_all), "a *:* rwm");
    }
}
