//! process.scheduler, process.ioPriority and process.execCPUAffinity: how the kernel schedules
//! the container's process, on the CPU and for I/O, and on which CPUs.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{ExecCPUAffinity, LinuxIOPriority, LinuxSchedulerFlag, Process};
use serde::Serialize;

/// runtime-spec's policy names and the kernel's numbers. The kernel reserves 4 for SCHED_ISO
/// but never implemented it.
pub const POLICIES: [(&str, u32); 7] = [
    ("SCHED_OTHER", 0),
    ("SCHED_FIFO", 1),
    ("SCHED_RR", 2),
    ("SCHED_BATCH", 3),
    ("SCHED_ISO", 4),
    ("SCHED_IDLE", 5),
    ("SCHED_DEADLINE", 6),
];

/// runtime-spec's flag names, the oci-spec variant each is read into (oci-spec 0.10 spells
/// them its own way: SCHED_RESET_ON_FORK, SCHED_FLAG_D_L_OVERRUN...), and the kernel's bit.
pub const FLAGS: [(&str, LinuxSchedulerFlag, u64); 7] = [
    ("SCHED_FLAG_RESET_ON_FORK", LinuxSchedulerFlag::SchedResetOnFork, 0x01),
    ("SCHED_FLAG_RECLAIM", LinuxSchedulerFlag::SchedFlagReclaim, 0x02),
    ("SCHED_FLAG_DL_OVERRUN", LinuxSchedulerFlag::SchedFlagDLOverrun, 0x04),
    ("SCHED_FLAG_KEEP_POLICY", LinuxSchedulerFlag::SchedFlagKeepPolicy, 0x08),
    ("SCHED_FLAG_KEEP_PARAMS", LinuxSchedulerFlag::SchedFlagKeepParams, 0x10),
    (
        "SCHED_FLAG_UTIL_CLAMP_MIN",
        LinuxSchedulerFlag::SchedFlagUtilClampMin,
        0x20,
    ),
    (
        "SCHED_FLAG_UTIL_CLAMP_MAX",
        LinuxSchedulerFlag::SchedFlagUtilClampMax,
        0x40,
    ),
];

pub const IO_CLASSES: [(&str, u16); 3] = [("IOPRIO_CLASS_RT", 1), ("IOPRIO_CLASS_BE", 2), ("IOPRIO_CLASS_IDLE", 3)];

/// The value `name` has in `table`; the names were checked when config.json was read.
pub fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Result<T> {
    match table.iter().find(|(n, _)| *n == name) {
        Some((_, v)) => Ok(*v),
        None => bail!("unknown name {name:?}"),
    }
}

/// process.scheduler, for sched_setattr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scheduler {
    pub policy: String,
    pub flags: Vec<String>,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// The kernel's struct sched_attr up to the utilization clamps (SCHED_ATTR_SIZE_VER1), as
/// runc passes it: with the UTIL_CLAMP flags, a shorter one is refused.
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

impl Scheduler {
    /// Left to the kernel: what each policy accepts (it names no field, but the step's
    /// origin does).
    pub fn from_spec(s: &oci_spec::runtime::Scheduler) -> Result<Scheduler> {
        let policy = s.policy().to_string();
        if policy == "SCHED_ISO" {
            bail!("process.scheduler.policy: SCHED_ISO is not implemented by the Linux kernel");
        }
        let priority = s.priority().unwrap_or(0);
        if priority < 0 {
            bail!("process.scheduler.priority {priority} is negative");
        }
        let flags = s
            .flags()
            .iter()
            .flatten()
            .map(|f| {
                let (name, _, _) = FLAGS.iter().find(|(_, v, _)| v == f).expect("every variant is listed");
                name.to_string()
            })
            .collect();
        Ok(Scheduler {
            policy,
            flags,
            nice: s.nice().unwrap_or(0),
            priority: priority as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
        })
    }

    /// For the calling process, which is single-threaded.
    pub fn set(&self) -> Result<()> {
        let mut flags = 0;
        for name in &self.flags {
            flags |= lookup(&FLAGS.map(|(n, _, bit)| (n, bit)), name)?;
        }
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: lookup(&POLICIES, &self.policy)?,
            flags,
            nice: self.nice,
            priority: self.priority,
            runtime: self.runtime,
            deadline: self.deadline,
            period: self.period,
            ..Default::default()
        };
        // SAFETY: sched_setattr reads attr.size bytes of attr; pid 0 is the caller.
        if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } != 0 {
            bail!("sched_setattr: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl std::fmt::Display for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} nice {} priority {}", self.policy, self.nice, self.priority)?;
        if self.policy == "SCHED_DEADLINE" {
            write!(
                f,
                " runtime {} deadline {} period {}",
                self.runtime, self.deadline, self.period
            )?;
        }
        if !self.flags.is_empty() {
            write!(f, " flags {}", self.flags.join(","))?;
        }
        Ok(())
    }
}

/// process.ioPriority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IoPriority {
    pub class: String,
    pub priority: u8,
}

impl IoPriority {
    pub fn from_spec(p: &LinuxIOPriority) -> Result<IoPriority> {
        let priority = p.priority();
        if !(0..=7).contains(&priority) {
            bail!("process.ioPriority.priority {priority} is out of range: 0 (highest) to 7 (lowest)");
        }
        Ok(IoPriority {
            class: p.class().to_string(),
            priority: priority as u8,
        })
    }

    /// For the calling process alone, which its children inherit. runc names the process
    /// group, in which its init is alone (it calls setsid); scrun's init shares the group of
    /// whoever ran scrun, which must keep its own priority (crun also sets the process's).
    pub fn set(&self) -> Result<()> {
        const IOPRIO_WHO_PROCESS: libc::c_int = 1;
        const IOPRIO_CLASS_SHIFT: u32 = 13;
        let value = (u32::from(lookup(&IO_CLASSES, &self.class)?) << IOPRIO_CLASS_SHIFT) | u32::from(self.priority);
        // SAFETY: ioprio_set takes three integers; who 0 is the caller.
        if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } != 0 {
            bail!("ioprio_set: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl std::fmt::Display for IoPriority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.class, self.priority)
    }
}

/// A set of CPU or NUMA node numbers, as bits in 64-bit words (the kernel's masks), read from
/// and shown in the kernel's list format ("0-3,7").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdSet(Vec<u64>);

impl IdSet {
    /// runc's bound on a CPU or node number: it only keeps a bogus one from allocating a
    /// huge mask, the kernel refuses numbers it has no CPU or node for.
    const MAX: u32 = 64 * 1024;

    /// runc's reading: spaces around an element and empty elements are allowed; no member at
    /// all is not.
    pub fn parse(list: &str) -> Result<IdSet> {
        let number = |s: &str| -> Result<u32> {
            let n: u32 = s.parse().map_err(|_| anyhow::anyhow!("{s:?} is not a number"))?;
            if n > Self::MAX {
                bail!("{n} is above {}", Self::MAX);
            }
            Ok(n)
        };
        let mut words = Vec::new();
        for element in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (first, last) = match element.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(element)?, number(element)?),
            };
            if first > last {
                bail!("{element:?} is not a range: {first} is above {last}");
            }
            for id in first..=last {
                let word = id as usize / 64;
                if words.len() <= word {
                    words.resize(word + 1, 0);
                }
                words[word] |= 1 << (id % 64);
            }
        }
        if words.is_empty() {
            bail!("{list:?} lists no number");
        }
        Ok(IdSet(words))
    }

    pub fn words(&self) -> &[u64] {
        &self.0
    }

    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.0.len() as u32 * 64).filter(|id| self.0[*id as usize / 64] & (1 << (id % 64)) != 0)
    }
}

impl std::fmt::Display for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for id in self.ids() {
            match ranges.last_mut() {
                Some((_, last)) if *last + 1 == id => *last = id,
                _ => ranges.push((id, id)),
            }
        }
        let text: Vec<String> = ranges
            .iter()
            .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
            .collect();
        f.write_str(&text.join(","))
    }
}

impl Serialize for IdSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An exec's process with the scheduling fields it leaves out taken from the container's
/// process (runc's rule).
pub fn inherit(process: &Process, container: Option<&Process>) -> Process {
    let mut process = process.clone();
    if let Some(theirs) = container {
        if process.scheduler().is_none() {
            process.set_scheduler(theirs.scheduler().clone());
        }
        if process.io_priority().is_none() {
            process.set_io_priority(*theirs.io_priority());
        }
        if process.exec_cpu_affinity().is_none() {
            process.set_exec_cpu_affinity(theirs.exec_cpu_affinity().clone());
        }
    }
    process
}

/// When the runtime sets an exec'd process's CPU affinity (process.execCPUAffinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Right after the clone, before it is in the container's cgroup.
    Initial,
    /// Once it is in the container's cgroup.
    Final,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Initial => "initial",
            Stage::Final => "final",
        })
    }
}

/// process.execCPUAffinity as (stage, CPUs, field): an empty list is as good as none.
pub fn exec_affinity(affinity: Option<&ExecCPUAffinity>) -> Result<Vec<(Stage, IdSet, &'static str)>> {
    let Some(affinity) = affinity else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (stage, list, field) in [
        (Stage::Initial, affinity.initial(), "process.execCPUAffinity.initial"),
        (
            Stage::Final,
            affinity.cpu_affinity_final(),
            "process.execCPUAffinity.final",
        ),
    ] {
        if let Some(list) = list.as_deref().filter(|l| !l.is_empty()) {
            out.push((stage, IdSet::parse(list).context(field)?, field));
        }
    }
    Ok(out)
}

/// sched_setaffinity on another process (the runtime's child). A mask wider than the kernel's
/// is fine as long as the extra bits are clear; the kernel drops CPUs outside the process's
/// cpuset and refuses a mask left with none.
pub fn set_affinity(pid: i32, cpus: &IdSet) -> Result<()> {
    let words = cpus.words();
    // SAFETY: the kernel reads len bytes from the words, which are that long.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            pid,
            std::mem::size_of_val(words),
            words.as_ptr(),
        )
    };
    if ret != 0 {
        bail!("sched_setaffinity: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_read_like_runc() {
        let set = |s: &str| {
            IdSet::parse(s)
                .map(|s| s.to_string())
                .unwrap_or_else(|e| format!("error: {e}"))
        };
        assert_eq!(set("0-3,7"), "0-3,7");
        assert_eq!(set(" 1 , ,3,2"), "1-3");
        assert_eq!(set("70,64-65"), "64-65,70");
        assert_eq!(IdSet::parse("64").unwrap().words(), &[0, 1]);
        assert_eq!(set(""), "error: \"\" lists no number");
        assert_eq!(set("3-1"), "error: \"3-1\" is not a range: 3 is above 1");
        assert_eq!(set("0-x"), "error: \"x\" is not a number");
        assert_eq!(set("65537"), "error: 65537 is above 65536");
    }

    #[test]
    fn spec_flags_map_to_kernel_bits() {
        let s: oci_spec::runtime::Scheduler = serde_json::from_value(serde_json::json!({
            "policy": "SCHED_BATCH", "nice": 3,
            "flags": [serde_json::to_value(LinuxSchedulerFlag::SchedFlagDLOverrun).unwrap()]
        }))
        .unwrap();
        let s = Scheduler::from_spec(&s).unwrap();
        assert_eq!(
            s.to_string(),
            "SCHED_BATCH nice 3 priority 0 flags SCHED_FLAG_DL_OVERRUN"
        );
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
    }

    #[test]
    fn iso_and_bad_priorities_are_refused() {
        let s: oci_spec::runtime::Scheduler =
            serde_json::from_value(serde_json::json!({"policy": "SCHED_ISO"})).unwrap();
        assert_eq!(
            Scheduler::from_spec(&s).unwrap_err().to_string(),
            "process.scheduler.policy: SCHED_ISO is not implemented by the Linux kernel"
        );
        let p: LinuxIOPriority =
            serde_json::from_value(serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 8})).unwrap();
        assert_eq!(
            IoPriority::from_spec(&p).unwrap_err().to_string(),
            "process.ioPriority.priority 8 is out of range: 0 (highest) to 7 (lowest)"
        );
    }
}
