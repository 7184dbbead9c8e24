# shellcheck shell=bash
# Builds initramfs images for Debian's 6.1 kernel (unpacked, not installed, by scripts/install-deps
# under /var/cache/osupdate-tests/kernel) with Debian's real mkinitramfs and osupdate's
# initramfs-tools hook and local-bottom script (initrd/initramfs-tools/). Source it; it exports
#   KVER     the kernel version (6.1.0-…-amd64)
#   KDIR     the unpacked kernel package's root (boot/, lib/modules/KVER)
#   VMLINUZ  the kernel image, for qemu -kernel
# and defines initramfs_build. The caller checks that KVER is set (empty: no kernel unpacked, the
# test skips).
#
# initramfs_build OUT BINARY KEYS_DIR CONF_FILE [EXTRA_MODULES…]
#   Runs `mkinitramfs -d CONFDIR -o OUT KVER` with a temporary CONFDIR (initramfs.conf: MODULES=list,
#   BUSYBOX=y, COMPRESS=gzip; a modules file; our hook in CONFDIR/hooks and our script in
#   CONFDIR/scripts/local-bottom), the hook taking BINARY, KEYS_DIR and CONF_FILE through its
#   OSUPDATE_INITRD_* overrides (KEYS_DIR "": the hook's default, KeysDirectory= of CONF_FILE and the
#   vendor keys). The modules the qemu tests boot with (virtio_pci, virtio_blk,
#   ext4) are always loaded at boot, EXTRA_MODULES too. OUT appears only if mkinitramfs succeeded;
#   on failure its messages go to stderr and the status is mkinitramfs's.
#
# mkinitramfs and modprobe read /lib/modules/KVER and /boot/config-KVER. They are provided inside a
# private mount namespace only: a tmpfs over /boot, and /lib/modules either a tmpfs over the
# host's (when it has one) or, when the host has none, an overlay of /usr/lib whose upper layer is
# a tmpfs, so that the directory exists without being created on the host. Nothing on the host's
# /lib/modules or /boot is created or changed. The real mkinitramfs runs; no file is assembled by
# hand.

_initramfs_src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../initrd/initramfs-tools" && pwd)
KDIR=$(ls -d /var/cache/osupdate-tests/kernel/linux-image-*/root 2>/dev/null | sort -V | tail -n1) || true
KVER=
VMLINUZ=
if [ -n "$KDIR" ] && [ -e "$KDIR/../done" ]; then
        VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1) || true
        KVER=${VMLINUZ##*/vmlinuz-}
        [ -n "$VMLINUZ" ] && [ -d "$KDIR/lib/modules/$KVER" ] || { KVER=""; VMLINUZ=""; }
fi
[ -n "$KVER" ] || KDIR=
export KVER KDIR VMLINUZ

# Runs inside `unshare -m --propagation private`: $1 scratch dir, $2 KDIR, $3 KVER, then the
# mkinitramfs command line.
_initramfs_ns='
set -eu
work=$1 kdir=$2 kver=$3
shift 3
mount -t tmpfs -o mode=0755 osupdate-initramfs "$work"
if [ -d /lib/modules ]; then
        mount -t tmpfs -o mode=0755 osupdate-modules /lib/modules
else
        libdir=$(readlink -f /lib)
        mkdir "$work/upper" "$work/overlay-work"
        mount -t overlay -o "lowerdir=$libdir,upperdir=$work/upper,workdir=$work/overlay-work" \
                osupdate-lib "$libdir"
        mkdir /lib/modules
fi
mkdir "/lib/modules/$kver"
mount --bind -o ro "$kdir/lib/modules/$kver" "/lib/modules/$kver"
mount -t tmpfs -o mode=0755 osupdate-boot /boot
cp "$kdir/boot/config-$kver" /boot/
exec "$@"
'

initramfs_build() {
        local out=$1 binary=$2 keys=$3 conf=$4 rc=0 tmp m
        shift 4
        if [ -z "$KVER" ]; then
                echo "initramfs_build: Debian's kernel is not unpacked (run scripts/install-deps)" >&2
                return 1
        fi
        tmp=$(mktemp -d /tmp/osupdate-initramfs.XXXXXX)
        mkdir -p "$tmp/conf/hooks" "$tmp/conf/scripts/local-bottom" "$tmp/conf/conf.d" "$tmp/work" "$tmp/var"
        # MODULES=list: only the listed modules (MODULES=most copies hundreds and takes far longer).
        printf '%s\n' MODULES=list BUSYBOX=y KEYMAP=n COMPRESS=gzip DEVICE= NFSROOT=auto RUNSIZE=10% FSTYPE=auto \
                >"$tmp/conf/initramfs.conf"
        # No resume device: the resume hook would otherwise look for the host's swap.
        echo "RESUME=none" >"$tmp/conf/conf.d/resume"
        {
                echo "# loaded at boot, before the root is mounted"
                for m in virtio_pci virtio_blk ext4 "$@"; do echo "$m"; done
        } >"$tmp/conf/modules"
        cp -p "$_initramfs_src/hooks/osupdate" "$tmp/conf/hooks/osupdate"
        cp -p "$_initramfs_src/scripts/local-bottom/osupdate" "$tmp/conf/scripts/local-bottom/osupdate"
        chmod 755 "$tmp/conf/hooks/osupdate" "$tmp/conf/scripts/local-bottom/osupdate"

        OSUPDATE_INITRD_BINARY=$binary OSUPDATE_INITRD_KEYS=$keys OSUPDATE_INITRD_CONFIG=$conf TMPDIR="$tmp/var" \
                unshare -m --propagation private bash -c "$_initramfs_ns" initramfs-ns "$tmp/work" "$KDIR" "$KVER" \
                mkinitramfs -d "$tmp/conf" -o "$tmp/initrd.img" "$KVER" >"$tmp/log" 2>&1 || rc=$?
        if [ "$rc" = 0 ] && [ -s "$tmp/initrd.img" ]; then
                mv "$tmp/initrd.img" "$out"
        else
                [ "$rc" != 0 ] || rc=1
                cat "$tmp/log" >&2
                echo "initramfs_build: mkinitramfs failed (exit $rc)" >&2
        fi
        rm -rf "$tmp"
        return "$rc"
}
