//! The one channel between the runtime and the container's init: a SOCK_SEQPACKET socketpair
//! (message boundaries kept, EOF when the peer dies) carrying small tagged messages and, once,
//! the pty master fd.

use anyhow::{bail, Context, Result};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// Runtime → init: the host side is ready (id maps written, runtime hooks run); go on
    /// with the setup. Carries the init's pid as the host sees it, for the state its hooks
    /// read (the rest of the state, unbounded, the init has had since the fork).
    Go { pid: i32 },
    /// Runtime → init: the cgroup is made, and the init is in it but for the v1 hierarchies
    /// named here, whose `tasks` files come with it (the fds, in this order) for the init to
    /// enter by itself (`cgroups::Entry`). The runtime does that while the init sets up, so
    /// the init waits for this only before what depends on it: a cgroup namespace or mount,
    /// and the user's program.
    Placed { dirs: Vec<String> },
    /// Runtime → init, right after `Placed`: the cgroup's limits (linux.resources) are set.
    /// The init waits for this before what they govern: device nodes (the devices cgroup),
    /// the hooks it runs, and the user's program.
    Limited,
    /// Init → runtime: this is the pty master (sent with the fd).
    Pty,
    /// Init → runtime: the listener of its seccomp filter's SCMP_ACT_NOTIFY rules (sent with
    /// the fd), for the agent on linux.seccomp.listenerPath.
    SeccompListener,
    /// Init → runtime: set up, waiting for `start`.
    Ready,
    /// Runtime → init: the state is saved; the runtime may now exit. Unless told to keep it,
    /// the init drops its parent-death signal, which would otherwise kill it with `create`.
    /// With `start` (a foreground `run`, which would start it at once) the init goes on to its
    /// exec without waiting on its start socket, and says on this channel if the exec fails.
    Detach { keep_pdeathsig: bool, start: bool },
    /// Init → runtime: the setup failed; the text says which step and why.
    Error(String),
}

pub struct Channel(OwnedFd);

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).context("socketpair")?;
    Ok((Channel(a), Channel(b)))
}

const MAX_MSG: usize = 16 * 1024;
/// The most fds one message carries: a `tasks` file per v1 hierarchy (a host has at most 16
/// or so) with room to spare.
pub const MAX_FDS: usize = 64;

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Go { pid } => [&b"G"[..], &pid.to_le_bytes()].concat(),
            Msg::Pty => vec![b'P'],
            Msg::Placed { dirs } => [&b"C"[..], dirs.join("\0").as_bytes()].concat(),
            Msg::Ready => vec![b'R'],
            Msg::Limited => vec![b'L'],
            Msg::SeccompListener => vec![b'S'],
            Msg::Detach { keep_pdeathsig, start } => vec![b'D', *keep_pdeathsig as u8, *start as u8],
            Msg::Error(text) => {
                let mut v = vec![b'E'];
                v.extend(text.as_bytes().iter().take(MAX_MSG - 1));
                v
            }
        }
    }

    fn decode(b: &[u8]) -> Result<Msg> {
        Ok(match b {
            [b'G', pid @ ..] => Msg::Go {
                pid: i32::from_le_bytes(pid.try_into()?),
            },
            [b'P'] => Msg::Pty,
            [b'C', dirs @ ..] => Msg::Placed {
                dirs: match dirs {
                    [] => Vec::new(),
                    _ => dirs
                        .split(|&b| b == 0)
                        .map(|d| String::from_utf8_lossy(d).into_owned())
                        .collect(),
                },
            },
            [b'R'] => Msg::Ready,
            [b'L'] => Msg::Limited,
            [b'S'] => Msg::SeccompListener,
            [b'D', k, s] => Msg::Detach {
                keep_pdeathsig: *k != 0,
                start: *s != 0,
            },
            [b'E', text @ ..] => Msg::Error(String::from_utf8_lossy(text).into_owned()),
            _ => bail!("malformed message from the peer"),
        })
    }
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_fds(msg, &[])
    }

    pub fn send_fd(&self, msg: &Msg, fd: BorrowedFd) -> Result<()> {
        self.send_fds(msg, &[fd.as_raw_fd()])
    }

    pub fn send_fds(&self, msg: &Msg, fds: &[i32]) -> Result<()> {
        let data = msg.encode();
        let iov = [IoSlice::new(&data)];
        let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
            vec![]
        } else {
            vec![ControlMessage::ScmRights(fds)]
        };
        sendmsg::<()>(self.0.as_raw_fd(), &iov, &cmsgs, MsgFlags::MSG_NOSIGNAL, None).context("send to peer")?;
        Ok(())
    }

    /// The next message; an error when the peer closed its end (it died) or sent garbage.
    pub fn recv(&self) -> Result<(Msg, Option<OwnedFd>)> {
        let (msg, fds) = self.recv_fds()?;
        Ok((msg, fds.into_iter().next()))
    }

    /// The next message and every fd that came with it (at most MAX_FDS).
    pub fn recv_fds(&self) -> Result<(Msg, Vec<OwnedFd>)> {
        self.receive(MsgFlags::empty())
    }

    /// Why the peer failed, if it has said so already; what it sent before is dropped. When a
    /// step of ours fails after the init went on by itself, the init may have failed first (and
    /// be why ours did, or gone before its identity was read): its error is the one to give.
    pub fn queued_error(&self) -> Option<String> {
        while let Ok((msg, _)) = self.receive(MsgFlags::MSG_DONTWAIT) {
            if let Msg::Error(text) = msg {
                return Some(text);
            }
        }
        None
    }

    fn receive(&self, flags: MsgFlags) -> Result<(Msg, Vec<OwnedFd>)> {
        let mut buf = vec![0u8; MAX_MSG];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; MAX_FDS]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut reset = false;
        let (len, fds) = loop {
            match recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC | flags,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                // The peer closed with our last message unread; the error is reported once,
                // and what the peer sent before closing is still queued behind it.
                Err(nix::errno::Errno::ECONNRESET) if !reset => reset = true,
                Err(e) => return Err(e).context("receive from peer"),
                Ok(m) => {
                    let mut fds = Vec::new();
                    for c in m.cmsgs().context("receive fds")? {
                        if let ControlMessageOwned::ScmRights(raw) = c {
                            // SAFETY: the kernel just installed these fds in this process.
                            fds.extend(raw.iter().map(|&f| unsafe { OwnedFd::from_raw_fd(f) }));
                        }
                    }
                    if m.flags.contains(MsgFlags::MSG_CTRUNC) {
                        bail!("the peer sent more than {MAX_FDS} fds");
                    }
                    break (m.bytes, fds);
                }
            }
        };
        if len == 0 {
            bail!("the peer closed the channel");
        }
        Ok((Msg::decode(&buf[..len])?, fds))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fd() {
        let (a, b) = pair().unwrap();
        for msg in [
            Msg::Go { pid: 4242 },
            Msg::Ready,
            Msg::Limited,
            Msg::Detach {
                keep_pdeathsig: true,
                start: false,
            },
            Msg::Error("mount proc on /proc: nope".into()),
        ] {
            a.send(&msg).unwrap();
            assert_eq!(b.recv().unwrap().0, msg);
        }
        let f = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsFd;
        a.send_fd(&Msg::Pty, f.as_fd()).unwrap();
        let (msg, fd) = b.recv().unwrap();
        assert_eq!(msg, Msg::Pty);
        assert!(fd.is_some());
        let dirs = vec!["/sys/fs/cgroup/cpu/a".to_string(), "/sys/fs/cgroup/pids/a".to_string()];
        let two = [f.as_raw_fd(), f.as_raw_fd()];
        a.send_fds(&Msg::Placed { dirs: dirs.clone() }, &two).unwrap();
        let (msg, fds) = b.recv_fds().unwrap();
        assert_eq!((msg, fds.len()), (Msg::Placed { dirs }, 2));
        a.send(&Msg::Placed { dirs: Vec::new() }).unwrap();
        assert_eq!(b.recv().unwrap().0, Msg::Placed { dirs: Vec::new() });
        drop(a);
        assert!(b.recv().is_err());
    }

    #[test]
    fn a_queued_error_is_found_without_waiting() {
        let (a, b) = pair().unwrap();
        assert_eq!(b.queued_error(), None);
        a.send(&Msg::Pty).unwrap();
        a.send(&Msg::Error("resolve /proc in rootfs: is a symlink".into()))
            .unwrap();
        drop(a);
        assert_eq!(
            b.queued_error().as_deref(),
            Some("resolve /proc in rootfs: is a symlink")
        );
        assert_eq!(b.queued_error(), None);
    }

    #[test]
    fn last_words_survive_unread_data() {
        let (a, b) = pair().unwrap();
        b.send(&Msg::Placed { dirs: Vec::new() }).unwrap(); // never read by `a`
        a.send(&Msg::Error("why it failed".into())).unwrap();
        drop(a);
        assert_eq!(b.recv().unwrap().0, Msg::Error("why it failed".into()));
    }
}
