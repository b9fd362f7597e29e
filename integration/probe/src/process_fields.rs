//! What the kernel says of the probe's scheduling, I/O priority, CPU affinity, personality and
//! memory policy, and the addresses of its network interfaces: each read back with the call
//! that reports it (sched_getattr, ioprio_get, sched_getaffinity, personality(0xffffffff),
//! get_mempolicy, getifaddrs).

use serde_json::{json, Value};
use std::ffi::CStr;
use std::mem::zeroed;

pub fn report() -> Value {
    json!({
        "scheduler": scheduler(),
        "ioprio": ioprio(),
        "cpus": cpus(),
        "personality": personality(),
        "machine": machine(),
        "mempolicy": mempolicy(),
        "addresses": addresses(),
    })
}

/// struct sched_attr up to the utilization clamps.
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

fn scheduler() -> Option<Value> {
    let mut a = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut a as *mut SchedAttr, size, 0) };
    (rc == 0).then(|| {
        json!({
            "policy": a.policy, "flags": a.flags, "nice": a.nice, "priority": a.priority,
            "runtime": a.runtime, "deadline": a.deadline, "period": a.period,
        })
    })
}

fn ioprio() -> Option<Value> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    (v >= 0).then(|| json!({"class": v >> 13, "level": v & 0x1fff}))
}

/// The numbers set in a mask of 64-bit words.
fn members(words: &[u64]) -> Vec<usize> {
    (0..words.len() * 64)
        .filter(|i| words[i / 64] & (1 << (i % 64)) != 0)
        .collect()
}

fn cpus() -> Option<Vec<usize>> {
    let mut words = [0u64; 16];
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_getaffinity,
            0,
            std::mem::size_of_val(&words),
            words.as_mut_ptr(),
        )
    };
    (rc > 0).then(|| members(&words))
}

fn personality() -> Option<i64> {
    let p = unsafe { libc::personality(0xffff_ffff) };
    (p >= 0).then_some(p as i64)
}

fn machine() -> Option<String> {
    let mut u: libc::utsname = unsafe { zeroed() };
    (unsafe { libc::uname(&mut u) } == 0).then(|| {
        unsafe { CStr::from_ptr(u.machine.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    })
}

fn mempolicy() -> Option<Value> {
    const MODE_FLAGS: libc::c_int = 0xe000;
    let mut mode: libc::c_int = 0;
    let mut words = [0u64; 64];
    let maxnode = words.len() * 64 + 1;
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut libc::c_int,
            words.as_mut_ptr(),
            maxnode,
            0usize,
            0,
        )
    };
    (rc == 0).then(|| json!({"mode": mode & !MODE_FLAGS, "flags": mode & MODE_FLAGS, "nodes": members(&words)}))
}

/// "interface address/prefix" for every IPv4 and IPv6 address.
fn addresses() -> Option<Vec<String>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut p = list;
    while !p.is_null() {
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_netmask.is_null() {
            continue;
        }
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy();
        let (addr, prefix) = match unsafe { (*ifa.ifa_addr).sa_family } as libc::c_int {
            libc::AF_INET => unsafe {
                let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                (ip.to_string(), m.sin_addr.s_addr.count_ones())
            },
            libc::AF_INET6 => unsafe {
                let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in6);
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                (ip.to_string(), m.sin6_addr.s6_addr.iter().map(|b| b.count_ones()).sum())
            },
            _ => continue,
        };
        out.push(format!("{name} {addr}/{prefix}"));
    }
    unsafe { libc::freeifaddrs(list) };
    out.sort();
    Some(out)
}
