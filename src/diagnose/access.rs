//! EACCES: why the kernel refused to execute the file (search permission on its directories,
//! file type, a noexec mount, mode bits), checked against the credentials the exec ran with.

use super::*;

/// Credentials the exec is checked against for EACCES.
pub(super) struct Ids {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

impl Ids {
    /// Supplementary groups always come from the calling process: it is the
    /// one whose execve failed, so its groups are what the kernel checked.
    pub(super) fn new(ids: Option<(u32, u32)>) -> Self {
        let (uid, gid) = ids.unwrap_or_else(|| (geteuid().as_raw(), getegid().as_raw()));
        let groups = getgroups().unwrap_or_default();
        Ids {
            uid,
            gid,
            groups: groups.into_iter().map(|g| g.as_raw()).collect(),
        }
    }
}

pub(super) fn permission_denied(root: &Path, exe: &str, ids: &Ids) -> String {
    let mut reasons = match resolve(root, exe) {
        Some(host) => access_problems(root, &host, ids),
        // Unprivileged we may not even stat the file: check its directories.
        None => parent_dir(root, exe)
            .map(|dir| unsearchable_dirs(root, &dir, ids))
            .unwrap_or_default(),
    };
    if reasons.is_empty() {
        reasons.extend(interpreter_access_problem(root, exe, ids));
    }
    if reasons.is_empty() {
        "permission denied".to_string()
    } else {
        format!("permission denied: {}", reasons.join("; "))
    }
}

/// A script runs only if its interpreter is executable too.
fn interpreter_access_problem(root: &Path, exe: &str, ids: &Ids) -> Option<String> {
    let head = read_head(&resolve(root, exe)?)?;
    let interp = shebang(&head)?;
    let host = resolve(root, &interp)?;
    let problems = access_problems(root, &host, ids);
    if problems.is_empty() {
        return None;
    }
    Some(format!(
        "its interpreter {interp} (from the #! line) cannot be executed: {}",
        problems.join("; ")
    ))
}

/// Every reason the kernel could refuse to execute `host`, in the order
/// it checks them: path search permission, file type, noexec mount, mode bits.
fn access_problems(root: &Path, host: &Path, ids: &Ids) -> Vec<String> {
    let mut problems = host
        .parent()
        .map(|dir| unsearchable_dirs(root, dir, ids))
        .unwrap_or_default();
    let Ok(meta) = fs::metadata(host) else {
        return problems;
    };
    let path = container_path(root, host);
    if !meta.is_file() {
        problems.push(format!("{path} is {}, not a regular file", kind(&meta)));
        return problems;
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(mount) = noexec_mount(&mountinfo, host) {
        problems.push(format!(
            "{path} is on a filesystem mounted noexec (mount point {mount})"
        ));
    }
    if !may_execute(&meta, ids) {
        problems.push(format!(
            "{path} has no execute permission for uid {} gid {} ({}); add it in the image \
             with chmod +x (or COPY --chmod=755)",
            ids.uid,
            ids.gid,
            mode_owner(&meta)
        ));
    }
    problems
}

/// `dir` and its ancestors up to `root` that the ids may not search.
fn unsearchable_dirs(root: &Path, dir: &Path, ids: &Ids) -> Vec<String> {
    dir.ancestors()
        .take_while(|dir| dir.starts_with(root))
        .filter_map(|dir| {
            let meta = fs::metadata(dir).ok()?;
            if may_execute(&meta, ids) {
                return None;
            }
            Some(format!(
                "directory {} is not searchable by uid {} gid {} ({})",
                container_path(root, dir),
                ids.uid,
                ids.gid,
                mode_owner(&meta)
            ))
        })
        .collect()
}

/// Whether the ids may execute a file or search a directory, as the
/// kernel's generic_permission decides it. Root passes, except that a file
/// needs some x bit. POSIX ACLs are ignored.
fn may_execute(meta: &Metadata, ids: &Ids) -> bool {
    let mode = meta.mode();
    if ids.uid == 0 {
        return meta.is_dir() || mode & 0o111 != 0;
    }
    let shift = if meta.uid() == ids.uid {
        6
    } else if meta.gid() == ids.gid || ids.groups.contains(&meta.gid()) {
        3
    } else {
        0
    };
    (mode >> shift) & 0o1 != 0
}

fn mode_owner(meta: &Metadata) -> String {
    format!("mode {:04o}, owner {}:{}", meta.mode() & 0o7777, meta.uid(), meta.gid())
}

fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The mount point covering `path` if that mount is noexec. The last and
/// longest matching entry wins, as later mounts cover earlier ones.
pub(super) fn noexec_mount(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(String, bool)> = None;
    for entry in crate::mountinfo::parse(mountinfo) {
        let (point, options) = (entry.mount_point.into_owned(), entry.options);
        let longer = best.as_ref().is_none_or(|(b, _)| point.len() >= b.len());
        if longer && path.starts_with(&point) {
            let noexec = options.split(',').any(|o| o == "noexec");
            best = Some((point, noexec));
        }
    }
    best.filter(|(_, noexec)| *noexec).map(|(point, _)| point)
}
