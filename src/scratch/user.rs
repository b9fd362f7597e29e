//! `--user NAME[:UID[:GID]]`: the one-line /etc/passwd and /etc/group a FROM-scratch image
//! needs for a named non-root user (the Go article writes them by hand), and process.user.
//! A number first (`--user 1000:1000`) only sets process.user, as before names were taken.

use super::Rootfs;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The uid and gid the Go article gives its `appuser`, clear of any host user.
const DEFAULT_ID: u32 = 10001;

pub(super) struct User {
    /// None for the numeric form: no files are written.
    name: Option<String>,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

pub(super) fn parse(arg: Option<&str>) -> Result<Option<User>> {
    let Some(arg) = arg else { return Ok(None) };
    let mut parts = arg.split(':');
    let first = parts.next().unwrap_or_default();
    let number = |s: &str| {
        s.parse::<u32>()
            .with_context(|| format!("--user {arg:?}: {s:?} is not a number"))
    };
    let (name, uid) = if first.bytes().all(|b| b.is_ascii_digit()) && !first.is_empty() {
        (None, number(first)?)
    } else {
        check_name(arg, first)?;
        let default = if first == "root" { 0 } else { DEFAULT_ID };
        let uid = parts.next().map_or(Ok(default), number)?;
        (Some(first.to_string()), uid)
    };
    let gid = parts.next().map_or(Ok(uid), number)?;
    if parts.next().is_some() {
        bail!("--user {arg:?}: expected NAME[:UID[:GID]] or UID[:GID]");
    }
    if name.as_deref() == Some("root") && (uid, gid) != (0, 0) {
        bail!("--user {arg:?}: root is uid 0 and gid 0");
    }
    Ok(Some(User { name, uid, gid }))
}

/// The characters useradd accepts: a name cannot break a passwd line.
fn check_name(arg: &str, name: &str) -> Result<()> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"_.-".contains(&b);
    if name.is_empty() || name.starts_with('-') || !name.bytes().all(ok) {
        bail!("--user {arg:?}: {name:?} is not a user name (letters, digits, '_', '.', '-')");
    }
    Ok(())
}

pub(super) fn add(root: &mut Rootfs, user: &User) -> Result<()> {
    let Some(name) = &user.name else { return Ok(()) };
    let (uid, gid) = (user.uid, user.gid);
    let mut passwd = String::from("root:x:0:0:root:/root:/sbin/nologin\n");
    let mut group = String::from("root:x:0:\n");
    if name != "root" {
        passwd.push_str(&format!("{name}:x:{uid}:{gid}:{name}:/:/sbin/nologin\n"));
        group.push_str(&format!("{name}:x:{gid}:\n"));
    }
    let why = format!("--user {name}: uid {uid}, gid {gid}, so that the program and ps show a name");
    root.write_file(Path::new("/etc/passwd"), &passwd, 0o644, &why)?;
    root.write_file(Path::new("/etc/group"), &group, 0o644, &why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(arg: &str) -> (Option<String>, u32, u32) {
        let u = parse(Some(arg)).unwrap().unwrap();
        (u.name, u.uid, u.gid)
    }

    #[test]
    fn forms() {
        assert_eq!(ids("appuser"), (Some("appuser".into()), 10001, 10001));
        assert_eq!(ids("app:2000"), (Some("app".into()), 2000, 2000));
        assert_eq!(ids("app:2000:3000"), (Some("app".into()), 2000, 3000));
        assert_eq!(ids("1000"), (None, 1000, 1000));
        assert_eq!(ids("1000:5"), (None, 1000, 5));
        assert_eq!(ids("root"), (Some("root".into()), 0, 0));
        for bad in ["app:x", "a:1:2:3", "bad\nname", "x:y:z", "-app", "", "root:5"] {
            assert!(parse(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
