#!/usr/bin/env bash
# Installs scrun the zero-cost way (run as root; idempotent, also updates):
#
#   PREFIX/lib/scrun/scrun   the release binary, in a directory bind-mounted read-only onto
#                            itself;
#   PREFIX/bin/scrun         a symlink to it.
#
# scrun refuses to fork into a container from a binary the container could write to
# (CVE-2019-5736). From a read-only mount the check is one fstatvfs; from anywhere else scrun
# re-executes itself from a read-only view of its binary at every create, run and exec
# (about 0.5 ms). The bind mount does not survive a reboot: the script prints the /etc/fstab
# line that keeps it, and does not edit fstab itself.
#
#   hack/install.sh [--prefix DIR] [-q]     (DIR default /usr/local; -q: no summary)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: hack/install.sh [--prefix DIR] [-q]" >&2; exit 2; }
prefix=/usr/local
quiet=false
while (($#)); do
    case $1 in
        --prefix) (($# >= 2)) || usage; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        -q) quiet=true; shift ;;
        *) usage ;;
    esac
done
[[ $prefix == /* ]] || { echo "install.sh: --prefix wants an absolute path, got '$prefix'" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "install.sh: run as root (it mounts)" >&2; exit 1; }
say() { $quiet || echo "$@"; }

built=target/x86_64-unknown-linux-gnu/release/scrun  # .cargo/config.toml sets the target
if [[ ! -x $built ]] || [[ -n $(find src Cargo.toml Cargo.lock -newer "$built" -print -quit) ]]; then
    echo "install.sh: building $built (cargo build --release)"
    cargo build --release --quiet
fi

prefix=${prefix%/}
libdir=$prefix/lib/scrun
bindir=$prefix/bin
mkdir -p "$libdir" "$bindir"
# An update replaces the binary in the directory under the bind mount. A lazy unmount lets a
# scrun that still runs (`scrun run` waits for its container) keep its read-only view.
what=installed
[[ ! -e $libdir/scrun ]] || what=updated
while mountpoint -q "$libdir"; do
    umount --lazy "$libdir"
done
# Renamed into place: a running scrun keeps the old file, and no reader sees half a binary.
install -m 0755 "$built" "$libdir/.scrun.new"
mv -f "$libdir/.scrun.new" "$libdir/scrun"
mount --bind "$libdir" "$libdir"
mount -o remount,bind,ro "$libdir"
# access(W_OK) is EROFS on a read-only mount, even for root.
[[ ! -w $libdir/scrun ]] || { echo "install.sh: $libdir is still writable after the read-only remount" >&2; exit 1; }
ln -sfn "$libdir/scrun" "$bindir/scrun"

say "install.sh: $what $libdir/scrun ($("$libdir/scrun" --version | head -n1)) on a read-only bind mount of $libdir, $bindir/scrun -> it"
say "install.sh: to keep $libdir read-only across reboots, add to /etc/fstab: $libdir $libdir none bind,ro 0 0"
