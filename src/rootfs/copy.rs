//! Copying a directory tree between two directory fds, for `tmpcopyup`: the tmpfs mounted over an
//! image directory starts with the image's content (podman does this for every --read-only and
//! --tmpfs container).

use super::resolve::fd_path;
use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::{lchown, symlink, DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub fn copy_tree(from: &impl std::os::fd::AsRawFd, to: &impl std::os::fd::AsRawFd) -> Result<()> {
    copy_dir(Path::new(&fd_path(from)), Path::new(&fd_path(to)))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = entry.metadata()?;
        let kind = meta.file_type();
        if kind.is_dir() {
            fs::DirBuilder::new().mode(meta.mode() & 0o7777).create(&dst)?;
            copy_dir(&src, &dst)?;
        } else if kind.is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_file() {
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&dst)?;
            std::io::copy(&mut fs::File::open(&src)?, &mut out)?;
        } else if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() {
            nix::sys::stat::mknod(
                &dst,
                nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT),
                nix::sys::stat::Mode::empty(),
                meta.rdev(),
            )?;
        } else {
            continue;
        }
        lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !kind.is_symlink() {
            fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    Ok(())
}
