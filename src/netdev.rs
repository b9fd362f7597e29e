//! linux.netDevices: host network devices moved into the container's network namespace by the
//! runtime, renamed, with their permanent global addresses and up (runtime-spec's rules), over
//! rtnetlink. The kernel flushes a device's addresses when it changes namespace, so they are
//! read before the move and added again after.

use crate::netlink::{attributes, Message, Netlink};
use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};

const IFLA_NET_NS_FD: u16 = 28;
const IFLA_IFNAME: u16 = 3;

/// A device name the kernel accepts (dev_valid_name): a template may hold one "%d", which the
/// kernel replaces with the first free number.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        bail!("{name:?} is not a network device name: it must have 1 to 15 bytes");
    }
    if name == "." || name == ".." || name.contains(['/', ':']) || name.contains(char::is_whitespace) {
        bail!("{name:?} is not a network device name: it must not be \".\", \"..\" or hold '/', ':' or spaces");
    }
    if name.matches('%').count() > 1 || (name.contains('%') && !name.contains("%d")) {
        bail!("{name:?} is not a network device name: '%' may only appear once, as the template %d");
    }
    Ok(())
}

/// Move `device` from the runtime's network namespace into `netns` as `name`.
pub fn move_device(device: &str, name: &str, netns: &OwnedFd) -> Result<()> {
    let host = Netlink::open(libc::NETLINK_ROUTE)?;
    let (index, _) = host
        .link(0, Some(device))
        .with_context(|| format!("no network device {device:?} on the host"))?;
    let inside = in_netns(netns, || Netlink::open(libc::NETLINK_ROUTE))?;
    // The kernel moves the device under its own name and renames it after: a name taken in
    // the container would fail only once the device has left the host.
    let template = name.split_once("%d");
    if template.is_none() && inside.link(0, Some(name)).is_ok() {
        bail!("a network device named {name:?} already exists in the container");
    }
    let addresses = host.permanent_addresses(index)?;
    let mut msg = Message::new(libc::RTM_NEWLINK, libc::NLM_F_ACK);
    msg.push(&ifinfomsg(index, 0, 0));
    msg.attr(IFLA_IFNAME, &nul_terminated(name));
    msg.attr(IFLA_NET_NS_FD, &(netns.as_raw_fd() as u32).to_ne_bytes());
    host.ack(msg)
        .with_context(|| format!("move {device} into the container's network namespace"))?;
    // The kernel keeps the index unless a device there has it; the name a template ("eth%d")
    // gave is only known through the index.
    let new_index = match template {
        None => inside.link(0, Some(name)).map(|(i, _)| i),
        Some((prefix, suffix)) => inside.link(index, None).and_then(|(i, found)| {
            let digits = found.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(suffix));
            match digits {
                Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => Ok(i),
                _ => Err(std::io::Error::other(format!("index {index} is {found:?}"))),
            }
        }),
    }
    .context("find the moved device in the container")?;
    for address in &addresses {
        let mut msg = Message::new(
            libc::RTM_NEWADDR,
            libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL,
        );
        msg.push(&[address.family, address.prefix_len, 0, address.scope]);
        msg.push(&new_index.to_ne_bytes());
        for (kind, value) in &address.attrs {
            msg.attr(*kind, value);
        }
        inside.ack(msg).context("add its address back")?;
    }
    let up = libc::IFF_UP as u32;
    let mut msg = Message::new(libc::RTM_NEWLINK, libc::NLM_F_ACK);
    msg.push(&ifinfomsg(new_index, up, up));
    inside.ack(msg).context("set it up")?;
    Ok(())
}

/// Runs `f` in network namespace `netns` and comes back: a netlink socket made there keeps
/// talking to that namespace. The runtime is single-threaded.
fn in_netns<T>(netns: &OwnedFd, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let own = crate::namespaces::Own::save(["network"])?;
    crate::namespaces::enter("network", netns)?;
    let result = f();
    own.restore()?;
    result
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// struct ifinfomsg for device `index`.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut v = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    v.extend(index.to_ne_bytes());
    v.extend(flags.to_ne_bytes());
    v.extend(change.to_ne_bytes());
    v
}

/// An address as RTM_GETADDR gives it, with the attributes that make it again.
struct Address {
    family: u8,
    prefix_len: u8,
    scope: u8,
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Netlink {
    /// Send a request made with NLM_F_ACK and wait for the acknowledgement.
    fn ack(&self, msg: Message) -> std::io::Result<()> {
        self.send(msg)?;
        let mut buf = Vec::new();
        loop {
            if self
                .recv(&mut buf)?
                .iter()
                .any(|(kind, _)| *kind == libc::NLMSG_ERROR as u16)
            {
                return Ok(());
            }
        }
    }

    /// The index and name of the device with `index`, or else named `name`.
    fn link(&self, index: u32, name: Option<&str>) -> std::io::Result<(u32, String)> {
        let mut msg = Message::new(libc::RTM_GETLINK, 0);
        msg.push(&ifinfomsg(index, 0, 0));
        if let Some(name) = name {
            msg.attr(IFLA_IFNAME, &nul_terminated(name));
        }
        self.send(msg)?;
        let mut buf = Vec::new();
        for (kind, range) in self.recv(&mut buf)? {
            let body = &buf[range];
            if kind == libc::RTM_NEWLINK && body.len() >= 16 {
                let index = u32::from_ne_bytes(body[4..8].try_into().expect("4 bytes"));
                let name = attributes(&body[16..])
                    .into_iter()
                    .find(|(k, _)| *k == IFLA_IFNAME)
                    .map(|(_, v)| String::from_utf8_lossy(v.split(|b| *b == 0).next().unwrap_or(&[])).into_owned())
                    .unwrap_or_default();
                return Ok((index, name));
            }
        }
        Err(std::io::Error::other("no link in the kernel's answer"))
    }

    /// The addresses of device `index` that runtime-spec says move with it: permanent
    /// (IFA_F_PERMANENT) and of global scope.
    fn permanent_addresses(&self, index: u32) -> Result<Vec<Address>> {
        let mut msg = Message::new(libc::RTM_GETADDR, libc::NLM_F_DUMP);
        msg.push(&[libc::AF_UNSPEC as u8, 0, 0, 0, 0, 0, 0, 0]);
        self.send(msg).context("list the device's addresses")?;
        let mut found = Vec::new();
        let mut buf = Vec::new();
        loop {
            let messages = self.recv(&mut buf).context("list the device's addresses")?;
            for (kind, range) in &messages {
                if *kind == libc::NLMSG_DONE as u16 {
                    return Ok(found);
                }
                let body = &buf[range.clone()];
                if *kind != libc::RTM_NEWADDR || body.len() < 8 {
                    continue;
                }
                let (family, prefix_len, flags, scope) = (body[0], body[1], body[2], body[3]);
                if u32::from_ne_bytes(body[4..8].try_into().expect("4 bytes")) != index {
                    continue;
                }
                let attrs = attributes(&body[8..]);
                // IFA_FLAGS, when there, has the flags that do not fit the header's byte.
                let flags = attrs
                    .iter()
                    .find(|(k, v)| *k == libc::IFA_FLAGS && v.len() == 4)
                    .map_or(u32::from(flags), |(_, v)| {
                        u32::from_ne_bytes(v[..].try_into().expect("4 bytes"))
                    });
                if flags & libc::IFA_F_PERMANENT == 0 || scope != libc::RT_SCOPE_UNIVERSE {
                    continue;
                }
                let attrs = attrs
                    .into_iter()
                    .filter(|(k, _)| [libc::IFA_ADDRESS, libc::IFA_LOCAL, libc::IFA_BROADCAST].contains(k))
                    .collect();
                found.push(Address {
                    family,
                    prefix_len,
                    scope,
                    attrs,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        for ok in ["eth0", "net%d", "a", "fifteen-chars-x"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "sixteen-chars-xy", ".", "..", "a/b", "a:1", "a b", "a%d%d", "a%s"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_are_padded_and_parsed_back() {
        let mut msg = Message::new(libc::RTM_NEWLINK, libc::NLM_F_ACK);
        msg.push(&ifinfomsg(7, 0, 0));
        msg.attr(IFLA_IFNAME, &nul_terminated("eth0"));
        let bytes = msg.finish();
        assert_eq!(bytes.len(), 16 + 16 + 12);
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()), 44);
        assert_eq!(attributes(&bytes[32..]), vec![(IFLA_IFNAME, b"eth0\0".to_vec())]);
    }
}
