//! /proc/PID/mountinfo: `id parent major:minor root mount-point options [tags…] - fstype source
//! super-options`, paths with the kernel's \ooo escapes. Parsed here for everyone who reads it.

pub struct Entry {
    pub id: u32,
    pub parent: u32,
    pub device: String,
    pub root: String,
    pub mount_point: String,
    pub options: String,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(Entry {
                id: l.first()?.parse().ok()?,
                parent: l.get(1)?.parse().ok()?,
                device: l.get(2)?.to_string(),
                root: unescape(l.get(3)?),
                mount_point: unescape(l.get(4)?),
                options: l.get(5)?.to_string(),
                fstype: r.first()?.to_string(),
                source: unescape(r.get(1).unwrap_or(&"")),
                super_options: r.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// The kernel's octal escapes of space, tab, newline and backslash.
pub fn unescape(s: &str) -> String {
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
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_and_unescapes() {
        let e =
            &super::parse("36 35 98:0 /mnt1 /mnt\\040a rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")[0];
        assert_eq!((e.id, e.parent, e.device.as_str()), (36, 35, "98:0"));
        assert_eq!(
            (e.root.as_str(), e.mount_point.as_str(), e.fstype.as_str()),
            ("/mnt1", "/mnt a", "ext3")
        );
        assert_eq!(
            (e.source.as_str(), e.super_options.as_str()),
            ("/dev/root", "rw,errors=continue")
        );
    }
}
