//! The D-Bus wire format (specification, "Marshaling (Wire Format)"), little-endian only:
//! values, received messages and method calls.

use anyhow::{anyhow, bail, Context, Result};

/// A D-Bus value, typed enough to marshal it: 16-bit integers, fds and doubles are read as
/// their bits and never written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    U32(u32),
    U64(u64),
    Str(String),
    Path(String),
    Sig(String),
    /// The element signature, so that an empty array still has a type.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_string())
    }

    /// A (name, variant) pair of an `a(sv)` property list.
    pub fn property(name: &str, value: Value) -> Value {
        Value::Struct(vec![Value::str(name), Value::Variant(Box::new(value))])
    }

    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::U32(_) => "u".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(element, _) => format!("a{element}"),
            Value::Struct(fields) => format!("({})", fields.iter().map(Value::signature).collect::<String>()),
            Value::Variant(_) => "v".into(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::U32(n) => Some(*n),
            _ => None,
        }
    }

    /// Appends the value to `buf`, whose start is 8-aligned in the message.
    pub fn marshal(&self, buf: &mut Vec<u8>) {
        match self {
            Value::Byte(b) => buf.push(*b),
            Value::Bool(b) => put_u32(buf, u32::from(*b)),
            Value::U32(n) => put_u32(buf, *n),
            Value::U64(n) => {
                pad(buf, 8);
                buf.extend_from_slice(&n.to_le_bytes());
            }
            Value::Str(s) | Value::Path(s) => {
                put_u32(buf, s.len() as u32);
                buf.extend_from_slice(s.as_bytes());
                buf.push(0);
            }
            Value::Sig(s) => {
                buf.push(s.len() as u8);
                buf.extend_from_slice(s.as_bytes());
                buf.push(0);
            }
            Value::Array(element, items) => {
                put_u32(buf, 0);
                let len_at = buf.len() - 4;
                // The padding before the first element is not part of the length.
                pad(buf, alignment(element.as_bytes()[0]));
                let start = buf.len();
                for item in items {
                    item.marshal(buf);
                }
                let len = (buf.len() - start) as u32;
                buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => {
                pad(buf, 8);
                fields.iter().for_each(|f| f.marshal(buf));
            }
            Value::Variant(inner) => {
                Value::Sig(inner.signature()).marshal(buf);
                inner.marshal(buf);
            }
        }
    }
}

fn alignment(code: u8) -> usize {
    match code {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

fn pad(buf: &mut Vec<u8>, align: usize) {
    buf.resize(buf.len().next_multiple_of(align), 0);
}

fn put_u32(buf: &mut Vec<u8>, n: u32) {
    pad(buf, 4);
    buf.extend_from_slice(&n.to_le_bytes());
}

/// The first complete type of a signature, and the rest.
fn split_type(sig: &str) -> Result<(&str, &str)> {
    let bytes = sig.as_bytes();
    let end = match bytes.first() {
        None => bail!("empty signature"),
        Some(b'a') => 1 + split_type(&sig[1..])?.0.len(),
        Some(open @ (b'(' | b'{')) => {
            let close = if *open == b'(' { b')' } else { b'}' };
            let mut depth = 0;
            let mut end = None;
            for (i, b) in bytes.iter().enumerate() {
                if *b == *open {
                    depth += 1;
                } else if *b == close {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
            }
            end.with_context(|| format!("unbalanced signature {sig:?}"))?
        }
        Some(_) => 1,
    };
    Ok(sig.split_at(end))
}

/// Reads values from a received message; positions (and so alignment) count from its start.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn align(&mut self, align: usize) {
        self.pos = self.pos.next_multiple_of(align);
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or_else(|| anyhow!("D-Bus message truncated at byte {}", self.pos))?;
        self.pos += n;
        Ok(bytes)
    }

    fn u32(&mut self) -> Result<u32> {
        self.align(4);
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }

    fn text(&mut self, len: usize) -> Result<String> {
        let text = String::from_utf8(self.take(len)?.to_vec()).context("D-Bus string is not UTF-8")?;
        self.take(1)?;
        Ok(text)
    }

    /// Every value of signature `sig`, in order.
    fn values(&mut self, mut sig: &str) -> Result<Vec<Value>> {
        let mut values = Vec::new();
        while !sig.is_empty() {
            let (first, rest) = split_type(sig)?;
            values.push(self.value(first)?);
            sig = rest;
        }
        Ok(values)
    }

    /// One value of the single complete type `sig`.
    fn value(&mut self, sig: &str) -> Result<Value> {
        let code = sig.as_bytes()[0];
        Ok(match code {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'n' | b'q' => {
                self.align(2);
                Value::U32(u16::from_le_bytes(self.take(2)?.try_into()?).into())
            }
            b'i' | b'u' | b'h' => Value::U32(self.u32()?),
            b'x' | b't' | b'd' => {
                self.align(8);
                Value::U64(u64::from_le_bytes(self.take(8)?.try_into()?))
            }
            b's' | b'o' => {
                let len = self.u32()? as usize;
                let text = self.text(len)?;
                if code == b's' {
                    Value::Str(text)
                } else {
                    Value::Path(text)
                }
            }
            b'g' => {
                let len = self.take(1)?[0] as usize;
                Value::Sig(self.text(len)?)
            }
            b'v' => {
                let len = self.take(1)?[0] as usize;
                let inner = self.text(len)?;
                Value::Variant(Box::new(self.value(&inner)?))
            }
            b'a' => {
                let element = &sig[1..];
                let len = self.u32()? as usize;
                self.align(alignment(element.as_bytes()[0]));
                let end = self.pos + len;
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.value(element)?);
                }
                Value::Array(element.to_string(), items)
            }
            b'(' | b'{' => {
                self.align(8);
                Value::Struct(self.values(&sig[1..sig.len() - 1])?)
            }
            other => bail!("unsupported D-Bus type {:?}", other as char),
        })
    }
}

const METHOD_CALL: u8 = 1;
pub(super) const METHOD_RETURN: u8 = 2;
pub(super) const ERROR: u8 = 3;
pub(super) const SIGNAL: u8 = 4;

/// A received message; its body is decoded on demand, since signals scrun does not wait for
/// are skipped unread.
#[derive(Debug)]
pub struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    signature: String,
    raw: Vec<u8>,
    body_start: usize,
}

impl Message {
    pub fn body(&self) -> Result<Vec<Value>> {
        Reader {
            buf: &self.raw,
            pos: self.body_start,
        }
        .values(&self.signature)
        .with_context(|| format!("decode a D-Bus message body of signature {:?}", self.signature))
    }

    /// Decodes a whole message, framed by `message_len`.
    pub fn parse(raw: Vec<u8>) -> Result<Message> {
        let mut r = Reader { buf: &raw, pos: 0 };
        // Byte order, type, flags, version; then the body length: message_len framed it.
        let fixed = r.take(4)?.to_vec();
        r.u32()?;
        r.u32()?; // serial
        let Value::Array(_, fields) = r.value("a(yv)")? else {
            unreachable!("an array signature reads an array")
        };
        let mut msg = Message {
            kind: fixed[1],
            reply_serial: None,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            signature: String::new(),
            raw: Vec::new(),
            body_start: 0,
        };
        for field in fields {
            let Value::Struct(pair) = field else { continue };
            let (Some(Value::Byte(code)), Some(Value::Variant(value))) = (pair.first(), pair.get(1)) else {
                continue;
            };
            let text = value.as_str().map(str::to_string);
            match code {
                1 => msg.path = text,
                2 => msg.interface = text,
                3 => msg.member = text,
                4 => msg.error_name = text,
                5 => msg.reply_serial = value.as_u32(),
                8 => msg.signature = text.unwrap_or_default(),
                _ => {}
            }
        }
        r.align(8);
        msg.body_start = r.pos;
        msg.raw = raw;
        Ok(msg)
    }
}

/// Total size of a message from its first 16 bytes.
pub(super) fn message_len(fixed: &[u8; 16]) -> Result<usize> {
    if fixed[0] != b'l' {
        bail!(
            "D-Bus message in byte order {:?}: only little-endian is supported",
            fixed[0] as char
        );
    }
    let body = u32::from_le_bytes(fixed[4..8].try_into()?) as usize;
    let fields = u32::from_le_bytes(fixed[12..16].try_into()?) as usize;
    Ok((16 + fields).next_multiple_of(8) + body)
}

/// A method call, marshalled: header, header fields, then the body.
pub fn method_call(
    serial: u32,
    destination: &str,
    path: &str,
    interface: &str,
    member: &str,
    args: &[Value],
) -> Vec<u8> {
    let mut body = Vec::new();
    args.iter().for_each(|a| a.marshal(&mut body));
    let field = |code: u8, value: Value| Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(value))]);
    let mut fields = vec![
        field(1, Value::Path(path.into())),
        field(2, Value::str(interface)),
        field(3, Value::str(member)),
        field(6, Value::str(destination)),
    ];
    if !args.is_empty() {
        fields.push(field(8, Value::Sig(args.iter().map(Value::signature).collect())));
    }
    let mut msg = vec![b'l', METHOD_CALL, 0, 1];
    put_u32(&mut msg, body.len() as u32);
    put_u32(&mut msg, serial);
    Value::Array("(yv)".into(), fields).marshal(&mut msg);
    pad(&mut msg, 8);
    msg.extend_from_slice(&body);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marshalled by hand from the D-Bus specification ("Marshaling (Wire Format)"): every
    /// value aligned to its size from the message start, strings as u32 length + bytes + NUL,
    /// signatures as u8 length + bytes + NUL, arrays as u32 byte length (not counting the
    /// padding before the first element) + elements, structs 8-aligned, variants as signature
    /// + value.
    #[test]
    fn values_marshal_as_the_specification_says() {
        let cases: Vec<(Value, Vec<u8>)> = vec![
            (Value::Bool(true), vec![1, 0, 0, 0]),
            (Value::str("ab"), vec![2, 0, 0, 0, b'a', b'b', 0]),
            (Value::Sig("su".into()), vec![2, b's', b'u', 0]),
            (Value::U64(1), vec![1, 0, 0, 0, 0, 0, 0, 0]),
            (
                Value::Array("u".into(), vec![Value::U32(7)]),
                vec![4, 0, 0, 0, 7, 0, 0, 0],
            ),
            // The length excludes the 4 bytes that pad to the struct's 8-byte boundary.
            (Value::Array("(sv)".into(), vec![]), vec![0, 0, 0, 0, 0, 0, 0, 0]),
            (
                Value::property("X", Value::Bool(false)),
                vec![1, 0, 0, 0, b'X', 0, 1, b'b', 0, 0, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (value, want) in cases {
            let mut buf = Vec::new();
            value.marshal(&mut buf);
            assert_eq!(buf, want, "{value:?}");
        }
    }

    #[test]
    fn a_method_call_has_the_header_of_the_specification() {
        let msg = method_call(
            7,
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StopUnit",
            &[Value::str("a.scope"), Value::str("replace")],
        );
        let mut want: Vec<u8> = vec![b'l', 1, 0, 1];
        want.extend(24u32.to_le_bytes()); // body: "a.scope" and "replace", each 4 + 7 + NUL
        want.extend(7u32.to_le_bytes());
        let mut fields = Vec::new();
        let mut field = |code: u8, sig: u8, text: &str| {
            fields.resize(fields.len().next_multiple_of(8), 0);
            fields.extend([code, 1, sig, 0]);
            if sig == b'g' {
                fields.push(text.len() as u8);
            } else {
                fields.extend((text.len() as u32).to_le_bytes());
            }
            fields.extend(text.as_bytes());
            fields.push(0);
        };
        field(1, b'o', "/org/freedesktop/systemd1");
        field(2, b's', "org.freedesktop.systemd1.Manager");
        field(3, b's', "StopUnit");
        field(6, b's', "org.freedesktop.systemd1");
        field(8, b'g', "ss");
        want.extend((fields.len() as u32).to_le_bytes());
        want.extend(fields);
        want.resize(want.len().next_multiple_of(8), 0);
        want.extend([7, 0, 0, 0]);
        want.extend(b"a.scope\0");
        want.extend([7, 0, 0, 0]);
        want.extend(b"replace\0");
        assert_eq!(msg, want);
    }

    /// A JobRemoved signal as systemd sends it, framed and decoded.
    #[test]
    fn a_signal_decodes() {
        let body = [
            Value::U32(42),
            Value::Path("/org/freedesktop/systemd1/job/42".into()),
            Value::str("a.scope"),
            Value::str("done"),
        ];
        let mut raw = method_call(
            3,
            "x",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "JobRemoved",
            &body,
        );
        raw[1] = SIGNAL;
        assert_eq!(message_len(raw[..16].try_into().unwrap()).unwrap(), raw.len());
        let msg = Message::parse(raw).unwrap();
        assert_eq!(msg.kind, SIGNAL);
        assert_eq!(msg.member.as_deref(), Some("JobRemoved"));
        assert_eq!(msg.path.as_deref(), Some("/org/freedesktop/systemd1"));
        assert_eq!(msg.body().unwrap(), body);
    }

    #[test]
    fn nested_values_read_back() {
        let value = Value::Array(
            "(sv)".into(),
            vec![
                Value::property("PIDs", Value::Array("u".into(), vec![Value::U32(1), Value::U32(2)])),
                Value::property("MemoryMax", Value::U64(1 << 40)),
                Value::property("DeviceAllow", Value::Array("(ss)".into(), vec![])),
            ],
        );
        let mut buf = Vec::new();
        value.marshal(&mut buf);
        let mut r = Reader { buf: &buf, pos: 0 };
        assert_eq!(r.values(&value.signature()).unwrap(), [value]);
        assert_eq!(r.pos, buf.len());
    }

    #[test]
    fn signatures_split_into_complete_types() {
        assert_eq!(split_type("a(sv)u").unwrap(), ("a(sv)", "u"));
        assert_eq!(split_type("a{sa(ss)}").unwrap(), ("a{sa(ss)}", ""));
        assert_eq!(split_type("(s(uu))x").unwrap(), ("(s(uu))", "x"));
        assert!(split_type("(su").is_err());
    }
}
