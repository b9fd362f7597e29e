//! `scrun spec --scratch BINARY`: a FROM-scratch rootfs made of host files, the articles' manual
//! steps done in one command. Each option puts files in and says which and why (`--libs` the
//! loader and libraries, `--user` /etc/passwd and /etc/group, `--add` anything else), so the
//! learner sees what an image needs. The rootfs is new and every file is created through fds
//! beneath it (rootfs::resolve), so nothing an option copies in can redirect a later write.

mod add;
mod libs;
mod user;

use crate::rootfs::resolve::{open_in_root, open_parent_in_root, Create};
use anyhow::{bail, Context, Result};
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct Options<'a> {
    pub binary: &'a Path,
    pub libs: bool,
    pub user: Option<&'a str>,
    pub add: &'a [String],
    /// `--rootless`: the config maps the caller's ids (and the user's, from their subuid range).
    pub rootless: bool,
}

/// What `--scratch` made: config.json's text and one line per thing added to the rootfs.
pub struct Built {
    pub config: String,
    pub added: Vec<String>,
}

/// A ready FROM-scratch bundle in `dir`: rootfs/ holds the binary and what the options add, and
/// the config runs it without a terminal. A binary that could not run there is refused with
/// the reason the runtime would give, before anything is left behind.
pub fn build(dir: &Path, opts: &Options) -> Result<Built> {
    let user = user::parse(opts.user)?;
    let adds = opts.add.iter().map(|a| add::parse(a)).collect::<Result<Vec<_>>>()?;
    let (uid, gid) = user.as_ref().map_or((0, 0), |u| (u.uid, u.gid));
    let mappings = opts
        .rootless
        .then(|| crate::rootless::spec_mappings(uid, gid))
        .transpose()?;
    let binary = opts.binary;
    let inside = if binary.is_absolute() {
        binary.to_path_buf()
    } else {
        PathBuf::from("/").join(binary.file_name().context("--scratch names no file")?)
    };
    let rootfs = dir.join("rootfs");
    if rootfs.exists() {
        bail!("{} exists: --scratch makes a new rootfs", rootfs.display());
    }
    let fill = || -> Result<Vec<String>> {
        let mut root = Rootfs::make(&rootfs)?;
        root.copy_file(binary, &inside, "the program, from --scratch")?;
        if opts.libs {
            libs::add(&mut root, binary, &inside)?;
        }
        if let Some(user) = &user {
            user::add(&mut root, user)?;
        }
        for a in &adds {
            add::add(&mut root, a)?;
        }
        if let Some(why) = crate::diagnose::missing_interpreter(&rootfs, &inside.to_string_lossy()) {
            let hint = if opts.libs {
                ""
            } else {
                " (--libs copies them from the host)"
            };
            bail!("{}: {why}{hint}", binary.display());
        }
        Ok(root.added)
    };
    let added = fill().inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&rootfs);
    })?;
    let mut config: serde_json::Value = serde_json::from_str(&crate::spec::defaults::default_config(opts.rootless))?;
    config["process"]["args"] = serde_json::json!([inside]);
    config["process"]["terminal"] = false.into();
    config["process"]["user"]["uid"] = uid.into();
    config["process"]["user"]["gid"] = gid.into();
    if let Some((uid_maps, gid_maps)) = mappings {
        config["linux"]["uidMappings"] = uid_maps;
        config["linux"]["gidMappings"] = gid_maps;
    }
    Ok(Built {
        config: serde_json::to_string_pretty(&config)? + "\n",
        added,
    })
}

/// The rootfs being filled, and what went into it.
struct Rootfs {
    root: OwnedFd,
    added: Vec<String>,
}

impl Rootfs {
    fn make(path: &Path) -> Result<Rootfs> {
        std::fs::create_dir(path).with_context(|| format!("create {}", path.display()))?;
        let root = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("open {}", path.display()))?;
        Ok(Rootfs {
            root,
            added: Vec::new(),
        })
    }

    /// A new file at `inside`; one already there (two options naming the same path) is an error.
    fn create(&self, inside: &Path, mode: u32) -> Result<File> {
        let (dir, name) = open_parent_in_root(&self.root, inside)?;
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&dir, name.as_os_str(), flags, Mode::from_bits_truncate(0o600)).map_err(|e| {
            let why = if e == nix::errno::Errno::EEXIST {
                "already in the rootfs".to_string()
            } else {
                e.to_string()
            };
            anyhow::anyhow!("create {} in the rootfs: {why}", inside.display())
        })?;
        let file = File::from(fd);
        // Set after creation: the umask must not change the mode the option asked for.
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
        Ok(file)
    }

    /// Copy the host file `src` (symlinks followed) to `inside`, keeping its mode.
    fn copy_file(&mut self, src: &Path, inside: &Path, why: &str) -> Result<()> {
        let mut from = File::open(src).with_context(|| format!("open {}", src.display()))?;
        let meta = from.metadata()?;
        if !meta.is_file() {
            bail!("{} is not a regular file", src.display());
        }
        let mut to = self.create(inside, meta.permissions().mode())?;
        std::io::copy(&mut from, &mut to).with_context(|| format!("copy {} to {}", src.display(), inside.display()))?;
        self.note(inside, why);
        Ok(())
    }

    fn write_file(&mut self, inside: &Path, content: &str, mode: u32, why: &str) -> Result<()> {
        self.create(inside, mode)?
            .write_all(content.as_bytes())
            .with_context(|| format!("write {}", inside.display()))?;
        self.note(inside, why);
        Ok(())
    }

    fn symlink(&mut self, inside: &Path, target: &str, why: &str) -> Result<()> {
        let (dir, name) = open_parent_in_root(&self.root, inside)?;
        nix::unistd::symlinkat(target, &dir, name.as_os_str())
            .with_context(|| format!("create {} in the rootfs", inside.display()))?;
        self.note(
            &inside.with_file_name(format!("{} -> {target}", name.to_string_lossy())),
            why,
        );
        Ok(())
    }

    /// The directory at `inside`, made with its parents when missing.
    fn dir(&self, inside: &Path) -> Result<OwnedFd> {
        open_in_root(&self.root, inside, Create::Dir, false)
    }

    fn note(&mut self, inside: &Path, why: &str) {
        self.added.push(format!("added {} ({why})", inside.display()));
    }
}
