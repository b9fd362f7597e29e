//! The report as text.

use super::files::FileEntry;
use super::mounts::Mount;
use super::process::{cap_set, CapSet, Capabilities, Ids, Limit};
use super::{Report, Section};

pub(super) fn text(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "container {} (pid {}, {}), bundle {}, image {}",
        r.id,
        r.pid,
        r.status,
        r.bundle.display(),
        r.rootfs.display()
    ));
    match r.container_root.get() {
        Ok(root) if root == "/" => {}
        Ok(root) => line(format!(
            "before pivot_root: the init's / is still the host's; the container's mounts and files are read in {root}, shown from the container's /"
        )),
        Err(e) => line(format!("the container's root: unreadable: {e}")),
    }

    let ns = r.namespaces.list();
    let pick =
        |want: Option<bool>| -> Vec<&str> { ns.iter().filter(|(_, n)| n.own == want).map(|(k, _)| *k).collect() };
    let mut parts = Vec::new();
    for (label, want) in [
        ("own", Some(true)),
        ("shared with the host:", Some(false)),
        ("unreadable:", None),
    ] {
        let kinds = pick(want);
        if !kinds.is_empty() {
            parts.push(format!("{label} {}", kinds.join(" ")));
        }
    }
    line(format!("namespaces: {}", parts.join(" · ")));

    match r.process.get() {
        Err(e) => line(format!("process: unreadable: {e}")),
        Ok(p) => {
            let cmd = match p.cmdline.get() {
                Ok(args) => args.join(" "),
                Err(e) => format!("(cmdline unreadable: {e})"),
            };
            let id = |ids: &Ids| match (ids.real, ids.effective) {
                (Some(a), Some(b)) if a == b => a.to_string(),
                (Some(a), Some(b)) => format!("{a} (effective {b})"),
                _ => "?".into(),
            };
            let groups = if p.groups.is_empty() {
                "none".to_string()
            } else {
                p.groups.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            };
            let nspid = match p.ns_pid {
                Some(n) if p.ns_pids.len() > 1 => format!("pid {n} in its pid namespace"),
                Some(n) => format!("pid {n} (the host's pid namespace)"),
                None => "pid in its namespace unknown".into(),
            };
            let ids = match &p.user_namespace {
                None => format!("uid {} gid {}", id(&p.uid), id(&p.gid)),
                Some(u) => format!(
                    "uid {} gid {} in its user namespace, uid {} gid {} on the host",
                    u.uid.map_or("unmapped".into(), |i| i.to_string()),
                    u.gid.map_or("unmapped".into(), |i| i.to_string()),
                    id(&p.uid),
                    id(&p.gid)
                ),
            };
            line(format!(
                "process: {cmd} · {nspid} · {ids} · groups {groups} · cwd {} · umask {}",
                show(&p.cwd),
                p.umask.as_deref().unwrap_or("?")
            ));
            if r.status == "created" {
                line(
                    "  (created: this is still the runtime's init, waiting for `scrun start` to exec process.args)"
                        .into(),
                );
            }
            line(format!("  caps: {}", caps_text(&p.capabilities)));
            line(format!(
                "  no_new_privs {} · seccomp {} · exe {} · state {}",
                p.no_new_privs.map_or("?", |b| if b { "yes" } else { "no" }),
                p.seccomp.as_deref().unwrap_or("?"),
                show(&p.exe),
                p.state.as_deref().unwrap_or("?")
            ));
        }
    }

    match r.cgroup.get() {
        Err(e) => line(format!("cgroup: unreadable: {e}")),
        Ok(c) => line(format!("cgroup: {}", c.lines.join(" · "))),
    }

    match r.limits.get() {
        Err(e) => line(format!("limits: unreadable: {e}")),
        Ok(l) => {
            let (set, unlimited): (Vec<&Limit>, Vec<&Limit>) = l
                .resources
                .iter()
                .partition(|x| !(x.soft == "unlimited" && x.hard == "unlimited"));
            let mut parts: Vec<String> = set
                .iter()
                .map(|x| format!("{} {}/{}", x.rlimit.as_deref().unwrap_or(&x.resource), x.soft, x.hard))
                .collect();
            if !unlimited.is_empty() {
                parts.push(format!("the other {} unlimited", unlimited.len()));
            }
            line(format!("limits (soft/hard): {}", parts.join(" · ")));
        }
    }

    match r.fds.get() {
        Err(e) => line(format!("fds: unreadable: {e}")),
        Ok(f) => line(format!(
            "fds: {}",
            f.entries
                .iter()
                .map(|e| {
                    let cloexec = if e.close_on_exec == Some(true) {
                        " (close-on-exec)"
                    } else {
                        ""
                    };
                    format!("{} → {}{cloexec}", e.fd, show(&e.target))
                })
                .collect::<Vec<_>>()
                .join(" · ")
        )),
    }

    match r.mounts.get() {
        Err(e) => line(format!("mounts: unreadable: {e}")),
        Ok(m) => {
            line(format!("mounts ({}):", m.entries.len()));
            for row in mount_rows(&m.entries) {
                line(format!("  {row}"));
            }
        }
    }

    match r.files.get() {
        Err(e) => line(format!("files: unreadable: {e}")),
        Ok(f) => {
            let image = summarize(&f.image);
            line(format!(
                "the image holds: {}",
                if image.is_empty() {
                    "nothing".into()
                } else {
                    image.join(" ")
                }
            ));
            line("the instance adds:".into());
            for row in added_rows(&f.added) {
                line(format!("  {row}"));
            }
            let made: Vec<&str> = f
                .added
                .iter()
                .filter(|e| e.on_disk.as_deref().is_some_and(|d| d.contains("the runtime made")))
                .map(|e| e.path.as_str())
                .collect();
            if !made.is_empty() {
                line(format!(
                    "mount points the runtime made in the image directory on disk (they stay after delete): {}",
                    made.join(" ")
                ));
            }
            let hidden: Vec<&str> = f
                .added
                .iter()
                .filter(|e| {
                    e.on_disk
                        .as_deref()
                        .is_some_and(|d| !d.contains("the runtime made") && d != "nothing")
                })
                .map(|e| e.path.as_str())
                .collect();
            if !hidden.is_empty() {
                line(format!(
                    "mounted over what the image directory on disk already holds (mount points left by an earlier container of this bundle, or the image's own): {}",
                    hidden.join(" ")
                ));
            }
            if let Some(t) = &f.truncated {
                line(format!("(walk cut short: {t})"));
            }
        }
    }
    out
}

fn show(s: &Section<String>) -> String {
    match s.get() {
        Ok(v) => v.clone(),
        Err(e) => format!("(unreadable: {e})"),
    }
}

fn caps_text(c: &Capabilities) -> String {
    let all = cap_set(caps::all().iter().fold(0u64, |m, c| m | (1 << c.index())));
    let names = |s: &CapSet| {
        if s.names.is_empty() {
            "none".to_string()
        } else if s.names.len() >= all.names.len() && all.names.iter().all(|n| s.names.contains(n)) {
            format!("all {}", s.names.len())
        } else {
            s.names.join(",")
        }
    };
    // Sets equal to the effective one are named with it, the usual case for a container.
    let sets = [
        ("prm", &c.permitted),
        ("inh", &c.inheritable),
        ("bnd", &c.bounding),
        ("amb", &c.ambient),
    ];
    let mut label = String::from("eff");
    for (name, set) in sets {
        if *set == c.effective {
            label.push('=');
            label.push_str(name);
        }
    }
    let mut parts = vec![format!("{label} {} ({})", names(&c.effective), c.effective.hex)];
    for (name, set) in sets {
        if *set != c.effective {
            parts.push(format!("{name} {}", names(set)));
        }
    }
    parts.join(" · ")
}

/// One line per mount, sorted by mount point; sibling mounts of one type, source and reason
/// share a line (`/sys/fs/cgroup/{cpu,memory,…}`).
fn mount_rows(mounts: &[Mount]) -> Vec<String> {
    let mut sorted: Vec<&Mount> = mounts.iter().collect();
    sorted.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    let parent_dir = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
    let name = |p: &str| p.rsplit('/').next().unwrap_or("").to_string();
    let width = mounts.iter().map(|m| m.mount_point.len()).max().unwrap_or(0).min(24);
    let mut rows = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let m = sorted[i];
        let mut j = i + 1;
        while j < sorted.len()
            && m.mount_point != "/"
            && sorted[j].parent == m.parent
            && sorted[j].fstype == m.fstype
            && sorted[j].source == m.source
            && sorted[j].why == m.why
            && sorted[j].options == m.options
            && parent_dir(&sorted[j].mount_point) == parent_dir(&m.mount_point)
        {
            j += 1;
        }
        let group = &sorted[i..j];
        let point = if group.len() > 1 {
            let names: Vec<String> = group.iter().map(|x| name(&x.mount_point)).collect();
            format!("{}/{{{}}}", parent_dir(&m.mount_point), names.join(","))
        } else {
            m.mount_point.clone()
        };
        // The part of the source filesystem mounted: shown unless it is its root.
        let root = if group.iter().all(|x| x.root == m.root) {
            m.root.clone()
        } else if group
            .iter()
            .all(|x| name(&x.root) == name(&x.mount_point) && parent_dir(&x.root) == parent_dir(&m.root))
        {
            format!("{}/{{…}}", parent_dir(&m.root))
        } else {
            "…".into()
        };
        let source = if root == "/" {
            m.source.clone()
        } else {
            format!("{}:{root}", m.source)
        };
        let mut row = format!(
            "{point:<width$}  {:<7} {:<5} {source} {}",
            m.fstype, m.origin, m.options
        );
        if let Some(w) = &m.why {
            row.push_str(&format!(" — {w}"));
        }
        rows.push(row);
        i = j;
    }
    rows
}

/// The image's entries for a reader: a directory with many entries listed is one item
/// (`/usr/ (+1234)`), and the list stops at 40 items.
fn summarize(entries: &[FileEntry]) -> Vec<String> {
    const CROWDED: usize = 10;
    let mut out = Vec::new();
    let mut skip_under: Option<String> = None;
    for e in entries {
        if skip_under.as_ref().is_some_and(|p| e.path.starts_with(p.as_str())) {
            continue;
        }
        let prefix = format!("{}/", e.path);
        let inside = entries.iter().filter(|x| x.path.starts_with(&prefix)).count();
        if e.kind == "dir" && inside > CROWDED {
            out.push(format!("{prefix} (+{inside})"));
            skip_under = Some(prefix);
        } else {
            out.push(entry_name(e));
        }
    }
    cap_list(out, 40)
}

fn cap_list(mut items: Vec<String>, max: usize) -> Vec<String> {
    if items.len() > max {
        let more = items.len() - max;
        items.truncate(max);
        items.push(format!("… and {more} more (see --format json)"));
    }
    items
}

fn entry_name(e: &FileEntry) -> String {
    match (&e.target, e.kind) {
        (Some(t), _) => format!("{}→{t}", e.path),
        (None, "dir") => format!("{}/", e.path),
        _ => e.path.clone(),
    }
}

/// Added entries, grouped: a mount point, an entry with a reason of its own or one whose
/// parent the image holds gets a line; the other entries are listed on their nearest
/// ancestor's line (`/dev (tmpfs) with null zero …`).
fn added_rows(added: &[FileEntry]) -> Vec<String> {
    let paths: std::collections::HashSet<&str> = added.iter().map(|e| e.path.as_str()).collect();
    let parent = |p: &str| -> String {
        match p.rsplit_once('/') {
            Some(("", _)) | None => "/".into(),
            Some((d, _)) => d.into(),
        }
    };
    let own_line = |e: &FileEntry| {
        e.mount.as_deref() == Some(e.path.as_str()) || e.why.is_some() || !paths.contains(parent(&e.path).as_str())
    };
    let heads: Vec<&FileEntry> = added.iter().filter(|e| own_line(e)).collect();
    let mut rows = Vec::new();
    for h in heads {
        let prefix = format!("{}/", h.path);
        // Descendants of h without a line of their own under a nearer head; direct children
        // are all listed, like `ls`.
        let members: Vec<String> = added
            .iter()
            .filter(|e| e.path.starts_with(&prefix))
            .filter(|e| {
                let rel = &e.path[prefix.len()..];
                !rel.contains('/') || !own_line(e) && nearest_head(added, &e.path, &own_line) == Some(h.path.as_str())
            })
            .map(|e| {
                let rel = &e.path[prefix.len()..];
                match (&e.target, e.kind) {
                    (Some(t), _) => format!("{rel}→{t}"),
                    (None, "dir") => format!("{rel}/"),
                    _ => rel.to_string(),
                }
            })
            .collect();
        let members = cap_list(members, 40);
        let mut row = if h.mount.as_deref() == Some(h.path.as_str()) {
            format!("{} ({} mount)", h.path, h.fstype.as_deref().unwrap_or("?"))
        } else {
            format!("{} ({})", entry_name(h), h.kind)
        };
        if !members.is_empty() {
            row.push_str(&format!(" with {}", members.join(" ")));
        }
        if let Some(w) = &h.why {
            row.push_str(&format!(" — {w}"));
        }
        rows.push(row);
    }
    rows
}

fn nearest_head<'e>(added: &'e [FileEntry], path: &str, own_line: &dyn Fn(&FileEntry) -> bool) -> Option<&'e str> {
    added
        .iter()
        .filter(|h| own_line(h) && path.starts_with(&format!("{}/", h.path)))
        .max_by_key(|h| h.path.len())
        .map(|h| h.path.as_str())
}
