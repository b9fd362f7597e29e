//! /proc/PID/mountinfo: `id parent major:minor root mount-point options [tags…] - fstype source
//! super-options`, paths with the kernel's \ooo escapes. Parsed here for everyone who reads it.

use std::borrow::Cow;

/// One line, borrowed from the text: the start path parses the host's mountinfo (cgroups),
/// where a String per field was 9 allocations a line.
pub struct Entry<'a> {
    pub id: u32,
    pub parent: u32,
    pub device: &'a str,
    pub root: Cow<'a, str>,
    pub mount_point: Cow<'a, str>,
    pub options: &'a str,
    pub fstype: &'a str,
    pub source: Cow<'a, str>,
    pub super_options: &'a str,
}

pub fn parse(text: &str) -> Vec<Entry<'_>> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut l = left.split(' ');
            let mut r = right.split(' ');
            Some(Entry {
                id: l.next()?.parse().ok()?,
                parent: l.next()?.parse().ok()?,
                device: l.next()?,
                root: unescape(l.next()?),
                mount_point: unescape(l.next()?),
                options: l.next()?,
                fstype: r.next()?,
                source: unescape(r.next().unwrap_or("")),
                super_options: r.next().unwrap_or(""),
            })
        })
        .collect()
}

/// The kernel's octal escapes of space, tab, newline and backslash; the field itself when it
/// has none.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_and_unescapes() {
        let e =
            &super::parse("36 35 98:0 /mnt1 /mnt\\040a rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")[0];
        assert_eq!((e.id, e.parent, e.device), (36, 35, "98:0"));
        assert_eq!((&*e.root, &*e.mount_point, e.fstype), ("/mnt1", "/mnt a", "ext3"));
        assert_eq!((&*e.source, e.super_options), ("/dev/root", "rw,errors=continue"));
    }
}
