//! `events --stats`: runc's Stats object (cpu, memory, pids, hugetlb; blkio left empty), with
//! runc's units (nanoseconds, bytes) and its field names, so tools that parse runc's output work.

use super::{host, read_opt, Cgroup, Dir};
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::path::Path;

pub fn stats(cg: &Cgroup) -> Result<Value> {
    Ok(json!({
        "cpu": cpu(cg)?,
        "memory": memory(cg)?,
        "pids": pids(cg)?,
        "blkio": {},
        "hugetlb": hugetlb(cg)?,
    }))
}

/// "key value" lines (cpu.stat, memory.stat, cgroup.events) as a map.
pub(super) fn keyed(text: &str) -> Map<String, Value> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), Value::from(v.trim().parse::<u64>().ok()?)))
        })
        .collect()
}

fn num(dir: &Path, file: &str) -> Result<Option<u64>> {
    // "max" (no limit) is u64::MAX, as runc reports it.
    Ok(read_opt(dir, file)?.and_then(|s| if s == "max" { Some(u64::MAX) } else { s.parse().ok() }))
}

fn get(m: &Map<String, Value>, k: &str) -> u64 {
    m.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn cpu(cg: &Cgroup) -> Result<Value> {
    let mut usage = Map::new();
    let mut throttling = Value::Object(Map::new());
    if let Some(Dir::V1(d)) = cg.locate("cpuacct") {
        usage.insert("total".into(), num(d, "cpuacct.usage")?.unwrap_or(0).into());
        if let Some(per) = read_opt(d, "cpuacct.usage_percpu")? {
            let per: Vec<u64> = per.split_whitespace().filter_map(|n| n.parse().ok()).collect();
            usage.insert("percpu".into(), per.into());
        }
        // cpuacct.stat counts clock ticks (USER_HZ).
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|h| *h > 0);
        let tick_ns = 1_000_000_000 / hz.unwrap_or(100) as u64;
        let ticks = keyed(&read_opt(d, "cpuacct.stat")?.unwrap_or_default());
        usage.insert("kernel".into(), (get(&ticks, "system") * tick_ns).into());
        usage.insert("user".into(), (get(&ticks, "user") * tick_ns).into());
    } else if let Some(d) = cg.saved.v2.as_deref() {
        let s = keyed(&read_opt(d, "cpu.stat")?.unwrap_or_default());
        usage.insert("total".into(), (get(&s, "usage_usec") * 1000).into());
        usage.insert("kernel".into(), (get(&s, "system_usec") * 1000).into());
        usage.insert("user".into(), (get(&s, "user_usec") * 1000).into());
        if s.contains_key("nr_periods") {
            throttling = json!({
                "periods": get(&s, "nr_periods"),
                "throttled_periods": get(&s, "nr_throttled"),
                "throttled_time": get(&s, "throttled_usec") * 1000,
            });
        }
    }
    if let Some(Dir::V1(d)) = cg.locate("cpu") {
        let s = keyed(&read_opt(d, "cpu.stat")?.unwrap_or_default());
        throttling = json!({
            "periods": get(&s, "nr_periods"),
            "throttled_periods": get(&s, "nr_throttled"),
            "throttled_time": get(&s, "throttled_time"),
        });
    }
    Ok(json!({ "usage": usage, "throttling": throttling }))
}

fn memory(cg: &Cgroup) -> Result<Value> {
    let Some(dir) = cg.locate("memory") else {
        return Ok(json!({}));
    };
    let entry = |d: &Path, usage: &str, max: &str, limit: &str, failcnt: Option<u64>| -> Result<Value> {
        let mut e = Map::new();
        e.insert("usage".into(), num(d, usage)?.unwrap_or(0).into());
        if let Some(m) = num(d, max)? {
            e.insert("max".into(), m.into());
        }
        e.insert("limit".into(), num(d, limit)?.unwrap_or(u64::MAX).into());
        e.insert("failcnt".into(), failcnt.unwrap_or(0).into());
        Ok(Value::Object(e))
    };
    let d = dir.path();
    let raw = keyed(&read_opt(d, "memory.stat")?.unwrap_or_default());
    let mut out = Map::new();
    match dir {
        Dir::V1(d) => {
            out.insert("cache".into(), get(&raw, "total_cache").into());
            let failcnt = num(d, "memory.failcnt")?;
            out.insert(
                "usage".into(),
                entry(
                    d,
                    "memory.usage_in_bytes",
                    "memory.max_usage_in_bytes",
                    "memory.limit_in_bytes",
                    failcnt,
                )?,
            );
            if read_opt(d, "memory.memsw.usage_in_bytes")?.is_some() {
                let failcnt = num(d, "memory.memsw.failcnt")?;
                let swap = entry(
                    d,
                    "memory.memsw.usage_in_bytes",
                    "memory.memsw.max_usage_in_bytes",
                    "memory.memsw.limit_in_bytes",
                    failcnt,
                )?;
                out.insert("swap".into(), swap);
            }
        }
        Dir::V2(d) => {
            out.insert("cache".into(), get(&raw, "file").into());
            let events = keyed(&read_opt(d, "memory.events")?.unwrap_or_default());
            let failcnt = Some(get(&events, "max"));
            out.insert(
                "usage".into(),
                entry(d, "memory.current", "memory.peak", "memory.max", failcnt)?,
            );
            if let (Some(swap), Some(current)) = (num(d, "memory.swap.current")?, num(d, "memory.current")?) {
                // v1's memsw counts memory+swap; report v2 the same way, as runc does.
                let limit = match (num(d, "memory.swap.max")?, num(d, "memory.max")?) {
                    (Some(s), Some(m)) => s.saturating_add(m),
                    _ => u64::MAX,
                };
                out.insert(
                    "swap".into(),
                    json!({ "usage": swap + current, "limit": limit, "failcnt": 0 }),
                );
            }
        }
    }
    out.insert("raw".into(), Value::Object(raw));
    Ok(Value::Object(out))
}

fn pids(cg: &Cgroup) -> Result<Value> {
    let Some(dir) = cg.locate("pids") else {
        return Ok(json!({}));
    };
    let d = dir.path();
    let mut out = Map::new();
    out.insert("current".into(), num(d, "pids.current")?.unwrap_or(0).into());
    // runc leaves "limit" out when there is none.
    if let Some(l) = num(d, "pids.max")?.filter(|l| *l != u64::MAX) {
        out.insert("limit".into(), l.into());
    }
    Ok(Value::Object(out))
}

fn hugetlb(cg: &Cgroup) -> Result<Value> {
    let Some(dir) = cg.locate("hugetlb") else {
        return Ok(json!({}));
    };
    let mut out = Map::new();
    for size in host().hugepage_sizes() {
        let entry = match dir {
            Dir::V1(d) => json!({
                "usage": num(d, &format!("hugetlb.{size}.usage_in_bytes"))?.unwrap_or(0),
                "max": num(d, &format!("hugetlb.{size}.max_usage_in_bytes"))?.unwrap_or(0),
                "failcnt": num(d, &format!("hugetlb.{size}.failcnt"))?.unwrap_or(0),
            }),
            Dir::V2(d) => {
                let events = keyed(&read_opt(d, &format!("hugetlb.{size}.events"))?.unwrap_or_default());
                json!({
                    "usage": num(d, &format!("hugetlb.{size}.current"))?.unwrap_or(0),
                    "failcnt": get(&events, "max"),
                })
            }
        };
        out.insert(size.clone(), entry);
    }
    Ok(Value::Object(out))
}
