//! A minimal D-Bus client: what asking systemd for a transient unit takes, and no more. One
//! blocking connection over a unix socket, SASL EXTERNAL, method calls with the few argument
//! types systemd's Manager methods use, replies, errors and signals.
//!
//! Written by hand rather than with a crate: `dbus` links libdbus, a C library Debian ships no
//! static archive of (scrun is linked +crt-static); zbus needs an async executor; rustbus brings
//! a second nix (0.26) and a proc-macro crate. Four method calls are a few hundred lines.
//!
//! Only little-endian messages are read: systemd and dbus-daemon write native byte order, and
//! scrun runs on little-endian machines.
//!
//! This file holds the connection; `wire.rs` the marshalling of values and messages.

use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use wire::{message_len, method_call, ERROR, METHOD_RETURN, SIGNAL};

mod wire;
pub use wire::{Message, Value};

/// A failed method call: the error's name and message, as the peer sent them.
#[derive(Debug)]
pub struct CallError {
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.name)
    }
}

impl std::error::Error for CallError {}

pub struct Conn {
    stream: UnixStream,
    serial: u32,
    /// Signals that arrived while a reply was awaited.
    signals: VecDeque<Message>,
}

impl Conn {
    /// Connects and authenticates as our uid. A bus (`bus`: true, a dbus-daemon) also wants
    /// Hello before anything else; a peer (systemd's private socket) does not. Every read
    /// waits at most `timeout`, so a stuck peer cannot hang the runtime.
    pub fn connect(path: &Path, bus: bool, timeout: Duration) -> Result<Conn> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut conn = Conn {
            stream,
            serial: 0,
            signals: VecDeque::new(),
        };
        conn.authenticate()
            .with_context(|| format!("authenticate on {}", path.display()))?;
        if bus {
            conn.call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "Hello",
                &[],
            )?;
        }
        Ok(conn)
    }

    fn authenticate(&mut self) -> Result<()> {
        let uid: String = nix::unistd::geteuid()
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        // BEGIN goes with AUTH in one write, as sd-bus's own clients send it. systemd 252 reads
        // what follows BEGIN into its buffer but does not look at it until the socket wakes it
        // again: a method call sent right after a lone BEGIN can wait for ever.
        self.stream
            .write_all(format!("\0AUTH EXTERNAL {uid}\r\nBEGIN\r\n").as_bytes())?;
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            let mut byte = [0];
            if self.stream.read(&mut byte)? == 0 {
                bail!("the peer closed the connection");
            }
            line.push(byte[0]);
        }
        if !line.starts_with(b"OK ") {
            bail!("refused: {}", String::from_utf8_lossy(&line).trim_end());
        }
        Ok(())
    }

    /// Calls a method and returns its reply's body; a D-Bus error comes back as a `CallError`.
    pub fn call(
        &mut self,
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<Vec<Value>> {
        self.serial += 1;
        let serial = self.serial;
        self.stream
            .write_all(&method_call(serial, destination, path, interface, member, args))
            .with_context(|| format!("send {member}"))?;
        loop {
            let msg = self
                .receive()
                .with_context(|| format!("wait for the reply to {member}"))?;
            match msg.kind {
                SIGNAL => self.signals.push_back(msg),
                METHOD_RETURN | ERROR if msg.reply_serial == Some(serial) => {
                    let body = msg.body()?;
                    if msg.kind == METHOD_RETURN {
                        return Ok(body);
                    }
                    return Err(CallError {
                        name: msg.error_name.unwrap_or_default(),
                        message: body.first().and_then(Value::as_str).unwrap_or_default().to_string(),
                    }
                    .into());
                }
                _ => {}
            }
        }
    }

    /// The next signal, in the order they arrived.
    pub fn signal(&mut self) -> Result<Message> {
        if let Some(msg) = self.signals.pop_front() {
            return Ok(msg);
        }
        loop {
            let msg = self.receive()?;
            if msg.kind == SIGNAL {
                return Ok(msg);
            }
        }
    }

    fn receive(&mut self) -> Result<Message> {
        let mut fixed = [0u8; 16];
        self.stream.read_exact(&mut fixed)?;
        let mut raw = fixed.to_vec();
        raw.resize(message_len(&fixed)?, 0);
        self.stream.read_exact(&mut raw[16..])?;
        Message::parse(raw)
    }
}
