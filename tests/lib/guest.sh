# shellcheck shell=bash
# Real boots of an osupdate device under qemu (issue 10): Debian's own 6.1 kernel (unpacked by
# scripts/install-deps into /var/cache/osupdate-tests/kernel), -accel tcg, no guest networking.
# The device is the Flatcar shape: the root filesystem, ext4 on the first virtio disk, holds /etc,
# /var (the state directory with its two slots) and merged-usr symlinks; /usr is an empty
# directory the initrd stage fills with a slot's image. Disks are made WITHOUT mounting anything on
# the host (mkfs.ext4 -d). The second virtio disk, the "control disk", is made per boot and carries
# that boot's step.sh and the bundles it needs.
#
# A slot's /usr (guest_usr_tree) holds busybox, lib/os-release, the guest's init (sbin/init) and a
# canary: a few MiB, so that bundles, applies (hashed by an emulated CPU) and disks stay small.
# osupdate and its libraries (~60 MiB, libicudata alone ~30 MiB) are NOT in the slots: they are on
# the root filesystem once, under /opt/osupdate (guest_root_tree), run through their own copy of
# ld-linux. This is a test rig: what the booted /usr holds does not matter to what is tested (the
# initrd stage, the slots, the tries and limits, verity), only that each release's is its own. The
# init prints one line on the console:
#   LIFE booted slot=a version=2 os-release=2 verity=kernel canary=ok uptime=3.21
# (slot, version and verity from /run/osupdate/booted.json, os-release from the mounted /usr, the
# canary read through the slot's verity), runs step.sh from the control disk, prints "LIFE done",
# syncs and powers off.
#
# Needs $OSUPDATE (the osupdate binary) and a scratch directory $T. Used by tests/vm/boot-life.sh,
# bench/boot-stage/run and scripts/demo --boot.
GUEST_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The modules the initramfs loads: the disks, the root filesystem, the slot's image and its verity.
GUEST_MODULES="virtio_pci virtio_blk ext4 loop erofs squashfs dm-verity"
# Set by guest_make_initramfs, for the caller to print: mkinitramfs or assembled.
# shellcheck disable=SC2034
GUEST_INITRAMFS_KIND=

# guest_require: sets GUEST_KDIR and GUEST_KVER, or exits 77 saying what this machine lacks.
guest_require() {
        local t
        GUEST_KDIR=$(ls -d /var/cache/osupdate-tests/kernel/linux-image-*/ 2>/dev/null | sort -V | tail -1 || true)
        if [ -z "$GUEST_KDIR" ] || [ ! -e "$GUEST_KDIR/done" ]; then
                echo "SKIP: Debian's kernel for the qemu tests is not unpacked (scripts/install-deps fetches it)"
                exit 77
        fi
        GUEST_KDIR=${GUEST_KDIR%/}
        GUEST_KVER=$(ls "$GUEST_KDIR/root/lib/modules")
        for t in qemu-system-x86_64 mkfs.ext4 debugfs e2fsck mkfs.erofs cpio; do
                command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
        done
        # The guest has no libc of its own but the one osupdate brings: busybox must be static.
        [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 ||
                { echo "SKIP: busybox-static is not installed (a static /bin/busybox)"; exit 77; }
        guest_kernel
        return 0
}

# guest_kernel: sets GUEST_KERNEL, what qemu -kernel boots: the same kernel's uncompressed vmlinux
# (extracted from the vmlinuz's xz payload into $T), which qemu starts at its PVH entry point: no
# decompression by the emulated CPU, ~2 s less per boot. Where that cannot be done (no $T, no xz,
# no PVH note), the vmlinuz itself.
guest_kernel() {
        local z=$GUEST_KDIR/root/boot/vmlinuz-$GUEST_KVER off
        GUEST_KERNEL=$z
        [ -n "${T:-}" ] && [ -d "$T" ] && command -v xz >/dev/null || return 0
        off=$(LC_ALL=C grep -obUa $'\xfd7zXZ' "$z" | head -1 | cut -d: -f1 || true)
        [ -n "$off" ] || return 0
        if tail -c +$((off + 1)) "$z" | xz -dc --single-stream >"$T/vmlinux" 2>/dev/null &&
                readelf -n "$T/vmlinux" 2>/dev/null | grep -q 'Xen .*(0x00000012)'; then
                GUEST_KERNEL=$T/vmlinux
        else
                rm -f "$T/vmlinux"
        fi
}

# guest_add_binary ROOT FILE DEST: copies FILE to ROOT/DEST and every library ldd lists to ROOT,
# at its own path; with ROOT a /usr tree (GUEST_USR=1) /lib/… and /usr/lib/… land in ROOT/lib/….
guest_add_binary() {
        local root=$1 file=$2 dest=$3 lib to
        mkdir -p "$root/$(dirname "$dest")"
        cp -L "$file" "$root/$dest"
        for lib in $(ldd "$file" | grep -o '/[^ ]*'); do
                to=$lib
                if [ "${GUEST_USR:-0}" = 1 ]; then
                        to=${to#/usr}
                fi
                [ -e "$root$to" ] && continue
                mkdir -p "$root$(dirname "$to")"
                cp -L "$lib" "$root$to"
        done
        return 0
}

# guest_add_modules ROOT: GUEST_MODULES and their dependencies under ROOT/lib/modules, their paths
# in load order in ROOT/modules.
guest_add_modules() {
        local root=$1 m line p
        mkdir -p "$root/lib/modules"
        : >"$root/modules"
        for m in $GUEST_MODULES; do
                while read -r line; do
                        p=$(awk '/^insmod/ {print $2}' <<<"$line")
                        [ -n "$p" ] || continue
                        grep -qxF "/lib/modules/$(basename "$p")" "$root/modules" && continue
                        cp "$p" "$root/lib/modules/"
                        echo "/lib/modules/$(basename "$p")" >>"$root/modules"
                done < <(modprobe -d "$GUEST_KDIR/root" -S "$GUEST_KVER" --show-depends "$m" 2>/dev/null)
        done
}

# guest_opt_osupdate ROOT: $OSUPDATE and every library ldd lists (ld-linux included) under
# ROOT/opt/osupdate/{libexec,lib}, and ROOT/opt/osupdate/bin/osupdate, a wrapper running it
# through that ld-linux with that library directory (the slots' /usr has no libc).
guest_opt_osupdate() {
        local o=$1/opt/osupdate lib
        mkdir -p "$o/bin" "$o/lib" "$o/libexec"
        cp -L "$OSUPDATE" "$o/libexec/osupdate"
        for lib in $(ldd "$OSUPDATE" | grep -o '/[^ ]*'); do
                cp -L "$lib" "$o/lib/"
        done
        printf '%s\n' '#!/usr/bin/sh' \
                'exec /opt/osupdate/lib/ld-linux-x86-64.so.2 --library-path /opt/osupdate/lib --argv0 osupdate \' \
                '        /opt/osupdate/libexec/osupdate "$@"' >"$o/bin/osupdate"
        chmod 755 "$o/bin/osupdate"
}

# guest_usr_tree DIR VERSION [ID] [PAD_MIB]: the /usr of one release: busybox with its applets,
# lib/os-release (ID=, VERSION_ID=), sbin/init and a 64 KiB canary (lib/osupdate-canary:
# "CANARY-ID-VERSION:" repeated, in blocks of its own; its SHA-256 beside it); with PAD_MIB, also
# lib/osupdate-padding, that many MiB from /dev/urandom (incompressible: a big image, to cut the
# power while it is written).
guest_usr_tree() {
        local d=$1 v=$2 id=${3:-life} pad=${4:-0} a
        mkdir -p "$d/bin" "$d/sbin" "$d/lib" "$d/lib64" "$d/share"
        cp /bin/busybox "$d/bin/busybox"
        for a in $(/bin/busybox --list); do
                case $a in busybox | init | linuxrc) continue ;; esac
                [ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"
        done
        [ "$pad" = 0 ] || head -c "$((pad * 1048576))" /dev/urandom >"$d/lib/osupdate-padding"
        printf 'ID=%s\nNAME="osupdate life %s"\nVERSION_ID=%s\n' "$id" "$id" "$v" >"$d/lib/os-release"
        head -c 65536 < <(yes "CANARY-$id-$v:") >"$d/lib/osupdate-canary"
        sha256sum <"$d/lib/osupdate-canary" | cut -d' ' -f1 >"$d/lib/osupdate-canary.sha256"
        cat >"$d/sbin/init" <<'INIT'
#!/usr/bin/sh
# The guest's init: says what booted, runs this boot's step from the control disk, powers off.
export PATH=/opt/osupdate/bin:/usr/bin:/usr/sbin
[ -e /proc/self/mounts ] || mount -t proc proc /proc
m() { grep -q "^[^ ]* $2 " /proc/self/mounts || mount -t "$1" "$1" "$2"; }
m sysfs /sys
m devtmpfs /dev
m tmpfs /run
m tmpfs /tmp
# initramfs-tools ran udevd and moved /run here, /run/udev included, but no udevd runs now:
# libdevmapper would wait forever for udev to confirm each dm device (osupdate apply hangs).
rm -rf /run/udev
export DM_DISABLE_UDEV=1
up=$(cut -d' ' -f1 /proc/uptime)
b=/run/osupdate/booted.json
j() { tr -d '\n' <"$b" 2>/dev/null | sed -n "s/^.*\"$1\": *\"\\([^\"]*\\)\".*\$/\\1/p"; }
VERSION_ID=
. /usr/lib/os-release
canary=bad
[ "$(sha256sum </usr/lib/osupdate-canary | cut -d' ' -f1)" = "$(cat /usr/lib/osupdate-canary.sha256)" ] && canary=ok
echo "LIFE booted slot=$(j slot) version=$(j version) os-release=$VERSION_ID verity=$(j verity) canary=$canary uptime=$up"
[ -e "$b" ] && echo "LIFE booted.json $(tr -d '\n' <"$b")"
if mount -o ro /dev/vdb /mnt 2>/dev/null; then
        (cd /tmp && sh /mnt/step.sh 2>&1)
        umount /mnt
else
        echo "LIFE no control disk"
fi
echo "LIFE done"
sync
poweroff -f
INIT
        chmod 755 "$d/sbin/init"
}

# guest_root_tree DIR KEYS_DIR CONF: the root filesystem: etc/osupdate/{osupdate.conf,keys.d},
# machine-id, var/lib, the merged-usr symlinks, an empty usr/, the mount points and osupdate under
# opt/osupdate (guest_opt_osupdate).
guest_root_tree() {
        local r=$1 keys=$2 conf=$3
        mkdir -p "$r"/{etc/osupdate/keys.d,var/lib,var/tmp,usr,proc,sys,dev,run,tmp,mnt,root}
        cp "$keys"/*.pem "$r/etc/osupdate/keys.d/"
        cp "$conf" "$r/etc/osupdate/osupdate.conf"
        ln -s usr/bin "$r/bin"
        ln -s usr/sbin "$r/sbin"
        ln -s usr/lib "$r/lib"
        ln -s usr/lib64 "$r/lib64"
        ln -s ../usr/lib/os-release "$r/etc/os-release"
        od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$r/etc/machine-id"
        echo >>"$r/etc/machine-id"
        chmod 1777 "$r/tmp" "$r/var/tmp"
        guest_opt_osupdate "$r"
}

# guest_root_disk TREE OUT SPARE_MIB: guest_mkfs of TREE, sized to what TREE holds plus SPARE_MIB
# (room for the slots the guest writes; mkfs.ext4 -d only writes what is used).
guest_root_disk() {
        guest_mkfs "$1" "$2" $(( $(du -sm "$1" | cut -f1) + $3 ))
}

# guest_mkfs TREE OUT MIB: an ext4 image of TREE (4 KiB blocks, so debugfs block numbers are
# 4 KiB units), made as an unprivileged builder would: nothing is mounted.
guest_mkfs() {
        rm -f "$2"
        mkfs.ext4 -q -b 4096 -L "${4:-root}" -E root_owner=0:0 -d "$1" "$2" "$3M" >/dev/null
}

# guest_control DIR OUT: the control disk of one boot from DIR (step.sh and its files).
guest_control() {
        local mib
        mib=$(( $(du -sm "$1" | cut -f1) + 16 ))
        guest_mkfs "$1" "$2" "$mib" control
}

# guest_initramfs OUT MODE KEYS_DIR CONF: an initramfs assembled here (busybox, the modules,
# osupdate-initrd with its libraries, the initramfs's own osupdate.conf and keys). MODE osupdate:
# /init mounts the root (root= on the command line) at /root and runs osupdate-initrd --root
# /root; MODE plain: the same, but the initrd stage is a plain `mount -o ro,loop` of slot a's image
# (the baseline of bench/boot-stage). Both print "LIFE stage <seconds>" (the stage's time from
# /proc/uptime) and switch to the root's /sbin/init with /run (and /run/osupdate) moved along.
guest_initramfs() {
        local out=$1 mode=$2 keys=$3 conf=$4 r
        r=$(mktemp -d "$T/initramfs.XXXXXX")
        mkdir -p "$r"/{bin,sbin,dev,proc,sys,run,root,etc/osupdate/keys.d,usr/lib/osupdate}
        cp /bin/busybox "$r/bin/busybox"
        guest_add_modules "$r"
        cp "$keys"/*.pem "$r/etc/osupdate/keys.d/"
        cp "$conf" "$r/etc/osupdate/osupdate.conf"
        if [ "$mode" = osupdate ]; then
                : "${OSUPDATE_INITRD:?OSUPDATE_INITRD must point to osupdate-initrd}"
                guest_add_binary "$r" "$OSUPDATE_INITRD" usr/lib/osupdate/osupdate-initrd
        fi
        echo "$mode" >"$r/mode"
        cat >"$r/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs -o mode=0755,nosuid,nodev run /run
for m in $(cat /modules); do insmod "$m" 2>/dev/null; done
root=/dev/vda init=/sbin/init
for a in $(cat /proc/cmdline); do
        case $a in root=*) root=${a#root=} ;; init=*) init=${a#init=} ;; esac
done
i=0
while [ ! -b "$root" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 -o rw "$root" /root || { echo "LIFE initramfs: cannot mount $root"; poweroff -f; }
t0=$(cut -d' ' -f1 /proc/uptime)
if [ "$(cat /mode)" = osupdate ]; then
        /usr/lib/osupdate/osupdate-initrd --root /root
        rc=$?
else
        mkdir -p /run/osupdate
        mount -o ro,loop /root/var/lib/osupdate/slots/a/image /root/usr
        rc=$?
        [ $rc = 0 ] && echo '{"slot": "a", "version": "?", "verity": "none"}' >/run/osupdate/booted.json
fi
t1=$(cut -d' ' -f1 /proc/uptime)
echo "LIFE stage $(echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}') mode=$(cat /mode) rc=$rc"
if [ "$rc" != 0 ]; then
        echo "LIFE initramfs: the initrd stage failed ($rc): powering off"
        umount /root
        poweroff -f
fi
mount --move /run /root/run
mount --move /dev /root/dev
umount /proc /sys
exec switch_root /root "$init"
INIT
        chmod 755 "$r/init"
        (cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
        rm -rf "$r"
}

# guest_make_initramfs OUT KEYS_DIR CONF [MODE]: the initramfs of the boots. Where
# tests/lib/initramfs.sh can run Debian's mkinitramfs with our hook (initramfs_build), that one
# (GUEST_INITRAMFS_KIND=mkinitramfs), else the same stage assembled here by guest_initramfs
# (GUEST_INITRAMFS_KIND=assembled). MODE osupdate (default): our local-bottom script as it is;
# timed: the same, printing "LIFE stage SECONDS mode=osupdate rc=N" around osupdate-initrd; plain:
# the same initramfs whose local-bottom mounts slot a's image with a plain `mount -o ro,loop`
# instead, timed alike (the baseline of bench/boot-stage). Needs OSUPDATE_INITRD.
guest_make_initramfs() {
        local out=$1 keys=$2 conf=$3 mode=${4:-osupdate} src saved
        : "${OSUPDATE_INITRD:?OSUPDATE_INITRD must point to osupdate-initrd}"
        # shellcheck source=tests/lib/initramfs.sh
        [ -f "$GUEST_LIB/initramfs.sh" ] && ! declare -F initramfs_build >/dev/null && . "$GUEST_LIB/initramfs.sh"
        if declare -F initramfs_build >/dev/null && [ -n "${_initramfs_src:-}" ]; then
                saved=$_initramfs_src
                if [ "$mode" != osupdate ]; then
                        # The timed variants: our hook, and our local-bottom script with the stage timed
                        # (and, for plain, replaced by a loop mount).
                        src=$(mktemp -d "$T/initramfs-src.XXXXXX")
                        mkdir -p "$src/hooks" "$src/scripts/local-bottom"
                        cp "$saved/hooks/osupdate" "$src/hooks/"
                        guest_time_stage "$mode" <"$saved/scripts/local-bottom/osupdate" >"$src/scripts/local-bottom/osupdate" ||
                                { echo "guest_make_initramfs: cannot find the osupdate-initrd call in local-bottom/osupdate" >&2; return 1; }
                        _initramfs_src=$src
                fi
                if initramfs_build "$out" "$OSUPDATE_INITRD" "$keys" "$conf" >"$T/mkinitramfs.log" 2>&1; then
                        _initramfs_src=$saved
                        GUEST_INITRAMFS_KIND=mkinitramfs
                        return 0
                fi
                _initramfs_src=$saved
                echo "# initramfs_build failed; the initramfs is assembled instead:"
                tail -5 "$T/mkinitramfs.log" | sed 's/^/#   /'
        fi
        [ "$mode" = timed ] && mode=osupdate
        guest_initramfs "$out" "$mode" "$keys" "$conf"
        GUEST_INITRAMFS_KIND=assembled
}

# guest_time_stage MODE: filters initrd/initramfs-tools/scripts/local-bottom/osupdate: the
# osupdate-initrd call timed with /proc/uptime (MODE plain: a loop mount of slot a's image instead).
guest_time_stage() {
        awk -v mode="$1" '
        /\/usr\/lib\/osupdate\/osupdate-initrd --root/ && !done {
                print "_t0=$(cut -d\" \" -f1 /proc/uptime)"
                if (mode == "plain")
                        sub(/\/usr\/lib\/osupdate\/osupdate-initrd --root "\$rootmnt"/,
                            "mount -o ro,loop \"$rootmnt/var/lib/osupdate/slots/a/image\" \"$rootmnt/usr\"")
                print; inif = 1; found = 1; next
        }
        inif && /^fi$/ {
                print
                m = mode == "plain" ? "plain" : "osupdate"
                print "echo \"LIFE stage $(echo \"$_t0 $(cut -d\" \" -f1 /proc/uptime)\" | awk \"{printf \\\"%.3f\\\", \\$2 - \\$1}\") mode=" m " rc=0\""
                inif = 0; done = 1; next
        }
        { print }
        END { exit found ? 0 : 1 }'
}

# guest_boot_start LOG DISK CONTROL INITRD TIMEOUT [APPEND…]: boots in the background (GUEST_PID:
# the timeout wrapping qemu, GUEST_QEMU_PIDFILE: qemu's own pid file); the raw console in LOG.raw.
guest_boot_start() {
        local log=$1 disk=$2 control=$3 initrd=$4 timeout=$5 ctl=()
        shift 5
        [ -n "$control" ] && ctl=(-drive "file=$control,format=raw,if=virtio,readonly=on")
        GUEST_QEMU_PIDFILE=$log.pid
        rm -f "$GUEST_QEMU_PIDFILE" "$log" "$log.raw"
        timeout -s KILL "$timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024 -nographic -no-reboot \
                -nodefaults -serial stdio -monitor none -pidfile "$GUEST_QEMU_PIDFILE" \
                -kernel "${GUEST_KERNEL:-$GUEST_KDIR/root/boot/vmlinuz-$GUEST_KVER}" -initrd "$initrd" \
                -drive "file=$disk,format=raw,if=virtio" "${ctl[@]}" \
                -append "root=/dev/vda rw console=ttyS0 panic=-1 quiet loglevel=4 init=/sbin/init $*" \
                </dev/null >"$log.raw" 2>&1 &
        GUEST_PID=$!
}

# guest_console: the serial console as lines: carriage returns dropped, and the terminal escape
# sequences (SeaBIOS clears the screen) turned into line breaks, so that what the guest prints
# starts a line; so do SeaBIOS's "Booting from ROM..." dots, which the guest's first line may
# follow on the same line, or come after a break that splits them.
guest_console() {
        tr -d '\r' | sed 's/\x1b\(c\|\[[0-9;?]*[A-Za-z]\)/\n/g' | sed -E 's/^(Booting from ROM)\.*/\1...\n/' |
                sed -E 's/^\.+(osupdate: |LIFE )/\1/' | grep -v '^$' || true
}

# guest_boot_wait LOG: waits for the boot started last; LOG is the console without carriage
# returns. Returns 0 if the guest reached "LIFE done", 1 otherwise.
guest_boot_wait() {
        local log=$1
        wait "$GUEST_PID" 2>/dev/null || true
        guest_console <"$log.raw" >"$log"
        grep -q '^LIFE done' "$log"
}

# guest_boot LOG DISK CONTROL INITRD TIMEOUT [APPEND…]: one boot, to its end.
guest_boot() {
        guest_boot_start "$@"
        guest_boot_wait "$1"
}

# guest_kill_when LOG REGEX DELAY: waits (up to the boot's end) until the console matches REGEX,
# then after DELAY seconds kills qemu with SIGKILL: a power cut. Returns 1 if REGEX never came.
guest_kill_when() {
        local log=$1 regex=$2 delay=$3
        while kill -0 "$GUEST_PID" 2>/dev/null; do
                if guest_console <"$log.raw" | grep -Eq -- "$regex"; then
                        sleep "$delay"
                        kill -KILL "$(cat "$GUEST_QEMU_PIDFILE")" 2>/dev/null || true
                        return 0
                fi
                sleep 0.05
        done
        return 1
}

# guest_stop: kills the qemu of the boot started last, if it still runs (for an EXIT hook).
guest_stop() {
        [ -n "${GUEST_QEMU_PIDFILE:-}" ] && [ -s "$GUEST_QEMU_PIDFILE" ] || return 0
        kill -KILL "$(cat "$GUEST_QEMU_PIDFILE")" 2>/dev/null || true
}

# guest_file_offset DISK PATH OFFSET: the byte offset in the ext4 image DISK of byte OFFSET of the
# file PATH inside it (debugfs lists the file's 4 KiB blocks; the journal is replayed first with
# e2fsck, so the listing is the one the guest will see).
guest_file_offset() {
        local disk=$1 path=$2 off=$3 blocks n
        blocks=$(debugfs -R "blocks $path" "$disk" 2>/dev/null)
        n=$((off / 4096 + 1))
        local b
        b=$(tr ' ' '\n' <<<"$blocks" | grep -v '^$' | sed -n "${n}p")
        [ -n "$b" ] || return 1
        echo $((b * 4096 + off % 4096))
}
