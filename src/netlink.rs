//! Netlink requests and answers, as rtnetlink (linux.netDevices, `netdev`) and sock_diag (the
//! start sockets `list` looks for, `state::listeners`) need them: written by hand, a few dozen
//! lines against a netlink crate and its async stack.

use anyhow::{Context, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub const NLMSG_HDRLEN: usize = 16;

/// One request: header, fixed part, attributes.
pub struct Message(Vec<u8>);

impl Message {
    pub fn new(kind: u16, flags: libc::c_int) -> Message {
        let mut v = vec![0; NLMSG_HDRLEN];
        v[4..6].copy_from_slice(&kind.to_ne_bytes());
        let flags = (libc::NLM_F_REQUEST | flags) as u16;
        v[6..8].copy_from_slice(&flags.to_ne_bytes());
        Message(v)
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
    }

    pub fn attr(&mut self, kind: u16, value: &[u8]) {
        self.push(
            &[
                &((4 + value.len()) as u16).to_ne_bytes()[..],
                &kind.to_ne_bytes(),
                value,
            ]
            .concat(),
        );
    }

    pub fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

/// A netlink socket of one protocol (NETLINK_ROUTE, NETLINK_SOCK_DIAG).
pub struct Netlink(OwnedFd);

impl Netlink {
    pub fn open(protocol: libc::c_int) -> Result<Netlink> {
        // SAFETY: socket takes three integers and returns a new fd or -1.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("open a netlink socket");
        }
        // SAFETY: fd is new and ours.
        Ok(Netlink(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn send(&self, msg: Message) -> std::io::Result<()> {
        let bytes = msg.finish();
        // SAFETY: send reads bytes.len() bytes of bytes.
        if unsafe { libc::send(self.0.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The messages of the next datagram as (type, payload); a netlink error is returned as
    /// the errno it carries.
    pub fn recv(&self, buf: &mut Vec<u8>) -> std::io::Result<Vec<(u16, std::ops::Range<usize>)>> {
        buf.resize(64 * 1024, 0);
        // SAFETY: recv writes at most buf.len() bytes into buf.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        let mut out = Vec::new();
        let mut at = 0;
        while at + NLMSG_HDRLEN <= buf.len() {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
            let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().expect("2 bytes"));
            if len < NLMSG_HDRLEN || at + len > buf.len() {
                return Err(std::io::Error::other("truncated netlink message"));
            }
            if kind == libc::NLMSG_ERROR as u16 {
                let errno = buf
                    .get(at + NLMSG_HDRLEN..at + NLMSG_HDRLEN + 4)
                    .map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
                    .ok_or_else(|| std::io::Error::other("truncated netlink error"))?;
                if errno != 0 {
                    return Err(std::io::Error::from_raw_os_error(-errno));
                }
            }
            out.push((kind, at + NLMSG_HDRLEN..at + len));
            at += len.next_multiple_of(4);
        }
        Ok(out)
    }
}

/// The (type, value) attributes in `bytes`.
pub fn attributes(mut bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = u16::from_ne_bytes([bytes[0], bytes[1]]) as usize;
        let kind = u16::from_ne_bytes([bytes[2], bytes[3]]);
        if len < 4 || len > bytes.len() {
            break;
        }
        out.push((kind, bytes[4..len].to_vec()));
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
    }
    out
}
