#!/bin/bash
# The boot stage's integration with the initrd builders: the systemd unit passes
# `systemd-analyze verify` and is ordered as stated, in a transaction with systemd's own initrd
# targets; Debian's real mkinitramfs with our hook and local-bottom script builds an initramfs for
# Debian's 6.1 kernel that holds the given osupdate-initrd, its libraries, the dm-verity, loop,
# erofs and squashfs modules, the keys and the configuration, and the script in its run order; the
# hook refuses to build an initramfs without a key or without the binary.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../lib/initramfs.sh"
: "${OSUPDATE_INITRD:?OSUPDATE_INITRD must point to the osupdate-initrd binary}"
src=$(cd "$(dirname "$0")/../.." && pwd)
unit=$src/initrd/systemd/osupdate-initrd.service

# --- The systemd unit ---------------------------------------------------------------------------
# systemd is not PID 1 here: `systemd-analyze verify` loads the units offline. The initrd's
# sysroot.mount is written by systemd-fstab-generator from root= at boot; a stand-in written the
# same way (Before=initrd-root-fs.target, required by initrd-root-fs.target and, without usr=, by
# initrd-usr-fs.target) takes its place. ExecStart= points at the built binary, since verify checks
# that the command exists. SYSTEMD_UNIT_PATH ending in ':' puts $T/units before the system's units.
mkdir -p "$T/units" "$T/sysroot/etc/systemd/system"
sed "s|/usr/lib/osupdate/osupdate-initrd|$OSUPDATE_INITRD|" "$unit" >"$T/units/osupdate-initrd.service"
printf '[Unit]\nBefore=initrd-root-fs.target\n[Mount]\nWhat=/dev/disk/by-label/root\nWhere=/sysroot\nOptions=ro\n' \
        >"$T/units/sysroot.mount"
mkdir -p "$T/units/initrd-root-fs.target.requires" "$T/units/initrd-usr-fs.target.requires"
ln -s ../sysroot.mount "$T/units/initrd-root-fs.target.requires/"
ln -s ../sysroot.mount "$T/units/initrd-usr-fs.target.requires/"

# [Install] does what it says: enabling it in an image root makes initrd-root-fs.target require it.
cp "$unit" "$T/sysroot/etc/systemd/system/"
if systemctl --root="$T/sysroot" enable osupdate-initrd.service >"$T/enable.log" 2>&1 &&
        [ -L "$T/sysroot/etc/systemd/system/initrd-root-fs.target.requires/osupdate-initrd.service" ]; then
        ok "systemctl --root enable links it into initrd-root-fs.target.requires"
        ln -s ../osupdate-initrd.service "$T/units/initrd-root-fs.target.requires/"
else
        not_ok "systemctl enable: $(cat "$T/enable.log"; find "$T/sysroot" -type l)"
fi

analyze() { SYSTEMD_UNIT_PATH="$1:" systemd-analyze verify --man=no "${@:2}"; }
if out=$(analyze "$T/units" "$T/units/osupdate-initrd.service" 2>&1) && [ -z "$out" ]; then
        ok "systemd-analyze verify osupdate-initrd.service: clean"
else
        not_ok "systemd-analyze verify osupdate-initrd.service: $out"
fi
# initrd.target is what a systemd initrd starts: the whole transaction, with systemd's own initrd
# units and ours, must hold no ordering cycle and no error, and must contain our unit.
out=$(analyze "$T/units" initrd.target 2>&1) || true
dbg=$(SYSTEMD_LOG_LEVEL=debug analyze "$T/units" initrd.target 2>&1) || true
if [ -z "$out" ] && grep -q "Installed new job osupdate-initrd.service/start" <<<"$dbg"; then
        ok "initrd.target's transaction pulls osupdate-initrd.service in, without a cycle or error"
else
        not_ok "initrd.target: $out $(grep -i 'osupdate\|cycle' <<<"$dbg")"
fi
# That check can fail: where sysroot.mount is ordered after initrd-usr-fs.target (the usr= layout,
# /usr mounted before the root), Before=initrd-usr-fs.target is a cycle, and verify says so.
cp -r "$T/units" "$T/units-usr"
rm "$T/units-usr/initrd-usr-fs.target.requires/sysroot.mount"
printf '[Unit]\nAfter=initrd-usr-fs.target\n' >>"$T/units-usr/sysroot.mount"
out=$(analyze "$T/units-usr" initrd.target 2>&1) || true
grep -q "ordering cycle" <<<"$out" && ok "the same verify reports an ordering cycle when there is one" ||
        not_ok "no cycle reported for a sysroot.mount after initrd-usr-fs.target: $out"

# The dependencies as systemd itself parsed them (the unit's dump in verify's debug output).
dump=$(SYSTEMD_LOG_LEVEL=debug analyze "$T/units" "$T/units/osupdate-initrd.service" 2>&1 |
        awk '/^[[:space:]]*-> Unit osupdate-initrd.service:/ {p = 1; next} /^[[:space:]]*-> Unit / {p = 0} p')
for want in "Requires: sysroot.mount" "After: sysroot.mount" "Before: initrd-root-fs.target" \
        "Before: initrd-usr-fs.target" "Before: initrd-fs.target" "RequiredBy: initrd-root-fs.target" \
        "OnFailure: emergency.target" "OnFailureJobMode: replace-irreversibly" "DefaultDependencies: no" \
        "ConditionPathExists: /etc/initrd-release" "Type: oneshot" "RemainAfterExit: yes" \
        "Command Line: $OSUPDATE_INITRD --root /sysroot" "Command Line: /bin/mount -o remount,rw /sysroot"; do
        grep -qF -- "$want" <<<"$dump" && ok "unit: $want" || not_ok "unit: no '$want' in: $dump"
done
# Nothing orders it after the targets it must precede, nor before the root it needs.
bad=$(grep -E "After: initrd-(root-fs|usr-fs|fs)\.target|Before: sysroot\.mount|Wants: initrd|Requires: initrd" <<<"$dump") || true
[ -z "$bad" ] && ok "unit: no contrary order" || not_ok "unit: contrary order: $bad"
# The Install section names the target, and the unit file itself says what the lines test.
grep -qx "RequiredBy=initrd-root-fs.target" "$unit" && grep -qx "ExecStart=/usr/lib/osupdate/osupdate-initrd --root /sysroot" "$unit" &&
        ok "unit file: installed path and RequiredBy=" || not_ok "unit file: ExecStart= or RequiredBy= changed"

# --- initramfs-tools ----------------------------------------------------------------------------
if [ -z "$KVER" ]; then
        echo "SKIP: Debian's kernel is not unpacked under /var/cache/osupdate-tests/kernel (scripts/install-deps)"
        exit 77
fi
make_keys
# Verity=userspace: the script is run below on this host, where a kernel dm-verity device (not
# namespaced) would outlive the test; the qemu tests boot with kernel verity.
printf '[Update]\nSignaturesRequired=1\nVerity=userspace\n[Boot]\nTries=2\nLimit=2\n' >"$T/osupdate.conf"
start=$(date +%s.%N)
if initramfs_build "$T/initrd.img" "$OSUPDATE_INITRD" "$T/keys" "$T/osupdate.conf" 2>"$T/build.log"; then
        ok "mkinitramfs with the hook built an initramfs for $KVER in $(echo "$(date +%s.%N) - $start" | bc | cut -c1-4) s"
else
        not_ok "mkinitramfs failed: $(cat "$T/build.log")"
        finish
fi
# Two more builds run in the background while the first image is examined (mkinitramfs is slow):
# as update-initramfs runs it, without OSUPDATE_INITRD_KEYS, with a KeysDirectory= in a drop-in of
# the configuration: the keys are taken from there and go to the same path in the initramfs, where
# osupdate-initrd will look; and no key at all, which the hook must refuse.
mkdir -p "$T/site/osupdate.conf.d" "$T/sitekeys" "$T/nokeys"
printf '[Update]\nSignaturesRequired=1\n' >"$T/site/osupdate.conf"
printf '[Update]\nKeysDirectory=%s\n' "$T/sitekeys" >"$T/site/osupdate.conf.d/50-keys.conf"
cp "$T/keys/k2.pem" "$T/sitekeys/"
cp "$T/keys/k1.pem" "$T/nokeys/k1.pub"
(rc=0; initramfs_build "$T/site.img" "$OSUPDATE_INITRD" "" "$T/site/osupdate.conf" >"$T/site.log" 2>&1 ||
        rc=$?; echo "$rc" >"$T/site.rc") &
site_pid=$!
(rc=0; initramfs_build "$T/nokeys.img" "$OSUPDATE_INITRD" "$T/nokeys" "$T/osupdate.conf" >"$T/nokeys.log" 2>&1 ||
        rc=$?; echo "$rc" >"$T/nokeys.rc") &
nokeys_pid=$!
on_exit "kill $site_pid $nokeys_pid 2>/dev/null; wait"

list=$(lsinitramfs "$T/initrd.img")
# has PATH: the initramfs lists PATH (literally); has_re REGEX: a path matching REGEX.
has() { grep -qxF -- "$1" <<<"$list"; }
has_re() { grep -qxE -- "$1" <<<"$list"; }
has "usr/lib/osupdate/osupdate-initrd" && ok "holds usr/lib/osupdate/osupdate-initrd" ||
        not_ok "no usr/lib/osupdate/osupdate-initrd in: $(grep osupdate <<<"$list")"
# Every library ldd lists, under its usr-merged path (the initramfs is usr-merged like the host).
nlib=0
while read -r lib; do
        path=$(readlink -f "$lib")
        for p in "$lib" "$path"; do
                case "$p" in /lib*) p=/usr$p ;; esac
                has "${p#/}" || { not_ok "library $p (from ldd: $lib) is not in the initramfs"; continue 2; }
        done
        nlib=$((nlib + 1))
done < <(ldd "$OSUPDATE_INITRD" | grep -oE '(^|\s)/[^ ]+' | tr -d '[:blank:]')
[ "$nlib" -gt 3 ] && ok "all $nlib libraries ldd lists for osupdate-initrd are in it" || not_ok "only $nlib libraries checked"
for m in drivers/md/dm-mod drivers/md/dm-verity drivers/block/loop fs/erofs/erofs fs/squashfs/squashfs; do
        has_re "usr/lib/modules/$KVER/kernel/$m\.ko(\.xz|\.zst)?" && ok "module ${m##*/}" || not_ok "module $m missing"
done
has "usr/lib/modules/$KVER/modules.dep" && ok "modules.dep generated for $KVER" || not_ok "no modules.dep"
has "etc/osupdate/keys.d/k1.pem" && has "etc/osupdate/keys.d/k2.pem" && ok "keys k1, k2 in etc/osupdate/keys.d" ||
        not_ok "keys: $(grep keys <<<"$list")"
has "etc/osupdate/osupdate.conf" && ok "etc/osupdate/osupdate.conf" || not_ok "no config"
has "scripts/local-bottom/osupdate" && ok "scripts/local-bottom/osupdate" || not_ok "no local-bottom script"

# The contents: the binary given, the keys and the config given, our script in the run order.
mkdir "$T/x"
(cd "$T/x" && zcat "$T/initrd.img" | cpio -id --quiet) 2>"$T/cpio.log" || not_ok "cpio: $(cat "$T/cpio.log")"
cmp -s "$T/x/usr/lib/osupdate/osupdate-initrd" "$OSUPDATE_INITRD" && ok "the binary is the one given" ||
        not_ok "usr/lib/osupdate/osupdate-initrd differs from $OSUPDATE_INITRD"
[ -x "$T/x/usr/lib/osupdate/osupdate-initrd" ] && ok "the binary is executable" || not_ok "binary not executable"
cmp -s "$T/x/etc/osupdate/keys.d/k1.pem" "$T/keys/k1.pem" && cmp -s "$T/x/etc/osupdate/osupdate.conf" "$T/osupdate.conf" &&
        ok "keys and config are the ones given" || not_ok "keys or config differ"
[ "$(ls "$T/x/etc/osupdate/keys.d")" = "$(printf 'k1.pem\nk2.pem')" ] && ok "no other key" ||
        not_ok "keys.d holds: $(ls "$T/x/etc/osupdate/keys.d")"
grep -qx '/scripts/local-bottom/osupdate "$@"' "$T/x/scripts/local-bottom/ORDER" &&
        ok "scripts/local-bottom/ORDER runs osupdate" || not_ok "ORDER: $(cat "$T/x/scripts/local-bottom/ORDER")"
cmp -s "$T/x/scripts/local-bottom/osupdate" "$src/initrd/initramfs-tools/scripts/local-bottom/osupdate" &&
        ok "the local-bottom script is ours" || not_ok "scripts/local-bottom/osupdate differs"
# The libraries resolve inside the initramfs alone: the binary runs there (chroot, with a /proc
# as the sanitizer build needs) and prints its usage.
mkdir -p "$T/x/proc"
if out=$(unshare -m -p -f --propagation private bash -c 'mount -t proc proc "$1/proc" && exec chroot "$1" \
        /usr/lib/osupdate/osupdate-initrd --help' initramfs "$T/x" 2>&1) && grep -q "Usage: osupdate-initrd" <<<"$out"; then
        ok "osupdate-initrd runs inside the initramfs with its own libraries"
else
        not_ok "osupdate-initrd --help in the initramfs: $out"
fi

# --- The local-bottom script, run for real inside the initramfs built above ----------------------
# As init runs it after mounting the root read-only at ${rootmnt}: chrooted into the unpacked
# initramfs, in a private mount and PID namespace, with a root filesystem of its own (an ext4
# image, so that remounting it never touches the host's). panic() is replaced in this copy by one
# that prints and exits: the real one reboots (panic=) or opens a shell.
printf '\npanic() { echo "PANIC: $*"; exit 1; }\n' >>"$T/x/scripts/functions"
mkdir -p "$T/x/root" "$T/x/proc" "$T/x/dev" "$T/x/sys"
make_tree "$T/tree" 1
"$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo --tree "$T/tree" -o "$T/v1.osup" >/dev/null
"$OSUPDATE" bundle create --key "$T/k3.pem" --version 1 --os-id demo --tree "$T/tree" -o "$T/rogue.osup" >/dev/null
mkdir "$T/keys3"
openssl pkey -in "$T/k3.pem" -pubout -out "$T/keys3/k3.pem"
# newroot NAME BUNDLE KEYS: an ext4 image of a root with BUNDLE provisioned in slot a, trusting KEYS.
newroot() {
        local r=$T/$1
        mkdir -p "$r/etc/osupdate/keys.d" "$r/var/lib" "$r/usr" "$r/run" "$r/proc" "$r/dev" "$r/sys"
        cp "$3"/*.pem "$r/etc/osupdate/keys.d/"
        "$OSUPDATE" provision -q "$2" --root "$r" --keys "$3"
        mkfs.ext4 -q -d "$r" "$T/$1.img" 64M >/dev/null
}
newroot good "$T/v1.osup" "$T/keys"
# A slot signed by a key only the root trusts (k3 in its keys.d): the initramfs knows k1 and k2 only.
newroot rogue "$T/rogue.osup" "$T/keys3"
# bootroot NAME [OUT ro|rw]: mounts NAME.img at x/root (read-only, as init does without rw on the
# command line), runs the script, records what it left in $T/boot-OUT.*.
bootroot() {
        unshare -m -p -f --propagation private bash -c '
                D=$1 out=$2 img=$3 mode=$4
                mount -o loop "$img" "$D/root" && mount -o "remount,$mode" "$D/root" || exit 1
                mount -t proc proc "$D/proc" && mount --rbind /dev "$D/dev" && mount --rbind /sys "$D/sys" &&
                        mount -t tmpfs tmpfs "$D/run" || exit 1
                rc=0
                chroot "$D" /bin/sh -c "export rootmnt=/root panic=-1 quiet=n; exec /scripts/local-bottom/osupdate" \
                        >"$out.log" 2>&1 || rc=$?
                echo "$rc" >"$out.rc"
                findmnt -rno FSTYPE,OPTIONS "$D/root" >"$out.root" || true
                findmnt -rno FSTYPE,OPTIONS "$D/root/usr" >"$out.usr" || true
                cat "$D/root/usr/version" >"$out.version" 2>/dev/null || true
                cat "$D/run/osupdate/booted.json" >"$out.booted" 2>/dev/null || true
                cat "$D/root/var/lib/osupdate/state.json" >"$out.state" 2>/dev/null || true
        ' bootroot "$T/x" "$T/boot-${2:-$1}" "$T/$1.img" "${3:-ro}" || not_ok "$1: could not set up the chroot"
}
bootroot good
B=$T/boot-good
[ "$(cat "$B.rc")" = 0 ] && ok "local-bottom: exit 0 with a good slot" || not_ok "local-bottom exit $(cat "$B.rc"): $(cat "$B.log")"
grep -qx 'osupdate: booted slot a, version 1, verity userspace' "$B.log" &&
        ok "console: $(grep '^osupdate: booted' "$B.log")" || not_ok "console: $(cat "$B.log")"
[[ "$(cat "$B.usr")" == "erofs "*ro,* ]] && [ "$(cat "$B.version")" = 1 ] &&
        ok "slot a's image mounted read-only on \${rootmnt}/usr" || not_ok "usr: $(cat "$B.usr") version $(cat "$B.version")"
[ "$(jq -r .slot "$B.booted" 2>/dev/null)" = a ] && ok "/run/osupdate/booted.json names slot a" ||
        not_ok "booted.json: $(cat "$B.booted")"
[[ "$(cat "$B.root")" == "ext4 "ro,* ]] && ok "the root is read-only again afterwards, as init mounted it" ||
        not_ok "root after the script: $(cat "$B.root")"
[ "$(jq -r .booted "$B.state" 2>/dev/null)" = a ] && ok "state.json on the root records the boot of slot a" ||
        not_ok "state.json: $(cat "$B.state")"

# With rw on the command line the root is mounted writable, and stays so.
bootroot good good-rw rw
B=$T/boot-good-rw
[ "$(cat "$B.rc")" = 0 ] && [ "$(cat "$B.version")" = 1 ] && [[ "$(cat "$B.root")" == "ext4 "rw,* ]] &&
        ok "a root mounted read-write: slot a mounted, the root left read-write" ||
        not_ok "rw root: exit $(cat "$B.rc"), root $(cat "$B.root"), version $(cat "$B.version"): $(cat "$B.log")"

bootroot rogue
B=$T/boot-rogue
[ "$(cat "$B.rc")" != 0 ] && grep -q "^osupdate: slot a (version 1) cannot boot: .*keys of this initramfs" "$B.log" &&
        grep -q "^osupdate: no slot can boot: " "$B.log" && grep -q "^PANIC: osupdate:" "$B.log" &&
        ok "a slot signed by a key only the root trusts: no slot can boot, panic names osupdate" ||
        not_ok "rogue slot: exit $(cat "$B.rc"): $(cat "$B.log")"
[ ! -s "$B.usr" ] && [ ! -s "$B.booted" ] && ok "nothing mounted on /usr, no booted.json" ||
        not_ok "after a refusal: usr $(cat "$B.usr") booted $(cat "$B.booted")"

wait "$site_pid" "$nokeys_pid"
if [ "$(cat "$T/site.rc")" = 0 ]; then
        slist=$(lsinitramfs "$T/site.img")
        grep -qxF "${T#/}/sitekeys/k2.pem" <<<"$slist" && grep -qx "etc/osupdate/osupdate.conf.d/50-keys.conf" <<<"$slist" &&
                ! grep -q "etc/osupdate/keys.d/" <<<"$slist" && ok "KeysDirectory= from a drop-in: its keys copied to that path, drop-in copied" ||
                not_ok "KeysDirectory=: $(grep -E 'etc/osupdate|sitekeys' <<<"$slist")"
else
        not_ok "mkinitramfs with KeysDirectory=: $(cat "$T/site.log")"
fi
# Refusals: mkinitramfs fails, says why, and writes no image.
[ "$(cat "$T/nokeys.rc")" = 1 ] && grep -q "E: osupdate: no trusted key .*$T/nokeys" "$T/nokeys.log" &&
        ok "an initramfs without a key is refused: $(grep 'E: osupdate' "$T/nokeys.log")" ||
        not_ok "no key: exit $(cat "$T/nokeys.rc"): $(cat "$T/nokeys.log")"
[ ! -e "$T/nokeys.img" ] && ok "no image written without a key" || not_ok "an image was written without a key"
# The binary check comes first in the hook: run it alone, as mkinitramfs would (it exits before
# using anything mkinitramfs provides).
expect "a missing binary is refused" 1 "E: osupdate: $T/nope is missing" env OSUPDATE_INITRD_BINARY="$T/nope" \
        OSUPDATE_INITRD_KEYS="$T/keys" DESTDIR="$T/nodest" sh "$src/initrd/initramfs-tools/hooks/osupdate"
[ ! -e "$T/nodest" ] && ok "nothing copied without the binary" || not_ok "the hook copied files without the binary"

# Nothing was created on the host: the kernel's modules and config were visible in a private
# mount namespace only.
[ ! -e "/lib/modules/$KVER" ] && [ ! -e "/boot/config-$KVER" ] && ok "host /lib/modules and /boot untouched" ||
        not_ok "/lib/modules/$KVER or /boot/config-$KVER appeared on the host"

finish
