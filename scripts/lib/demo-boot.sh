#!/bin/bash
# The boot part of scripts/demo (--boot): a tiny device booted for real under qemu with Debian's
# 6.1 kernel (TCG, a few minutes): provisioned offline with 1.0, it boots 1.0 from slot a through
# the initrd stage, applies 2.0 (staged for the next boot: 6.1 cannot mount beneath), boots 2.0
# from slot b on trial and marks it good.
# demo-boot.sh OSUPDATE OSUPDATE_INITRD DIR — DIR holds release.pem and keys.d/ (scripts/demo's).
set -euo pipefail
export OSUPDATE=$1 OSUPDATE_INITRD=$2
d=$3
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
T=$(mktemp -d "$d/boot.XXXXXX")
. "$(dirname "$0")/../../tests/lib/guest.sh"
trap guest_stop EXIT
guest_require

say "Two releases of the device's /usr: busybox, an init; signed bundles (osupdate is on the root, /opt/osupdate)"
for v in 1.0 2.0; do
        guest_usr_tree "$T/usr-$v" "$v" demo
        "$OSUPDATE" bundle create -q --key "$d/release.pem" --os-id demo --version "$v" --tree "$T/usr-$v" \
                -o "$T/device-$v.osup"
        rm -rf "$T/usr-$v"
done
ls -l "$T"/device-*.osup

say "The device's disk, built offline (nothing mounted): /etc, /opt/osupdate, /var with two slots, an empty /usr"
printf '[Boot]\nTries=3\n' >"$T/osupdate.conf"
guest_root_tree "$T/root" "$d/keys.d" "$T/osupdate.conf"
run "$OSUPDATE" provision "$T/device-1.0.osup" --root "$T/root"
isize=$(stat -c %s "$T/root/var/lib/osupdate/slots/a/image")
guest_root_disk "$T/root" "$T/disk.img" $((4 * isize / 1048576 + 32)) >/dev/null
echo "$T/disk.img: ext4, $(du -m --apparent-size "$T/disk.img" | cut -f1) MiB"
guest_make_initramfs "$T/initrd.img" "$d/keys.d" "$T/osupdate.conf"
echo "initramfs ($GUEST_INITRAMFS_KIND): osupdate-initrd, the release key, the configuration"

# boot N TITLE: boots with $T/ctl/step.sh, shows what the device printed (not the kernel's noise).
boot() {
        say "Boot $1: $2"
        guest_control "$T/ctl" "$T/ctl.img" >/dev/null
        local t0=$SECONDS
        guest_boot "$T/boot-$1.log" "$T/disk.img" "$T/ctl.img" "$T/initrd.img" 300 ||
                { echo "The boot did not complete; console:"; tail -30 "$T/boot-$1.log"; exit 1; }
        grep -E -v '^(SeaBIOS|Booting from|LIFE booted.json|LIFE done|\[ *[0-9.]+\]|  PID|  [0-9]+ )' "$T/boot-$1.log" |
                sed -n '/^osupdate: /,$p' | sed 's/^LIFE booted /the booted system: /; s/^/    /'
        echo "(boot $1: $((SECONDS - t0)) s under qemu TCG)"
}

mkdir "$T/ctl"
cp "$T/device-2.0.osup" "$T/ctl/"
cat >"$T/ctl/step.sh" <<'EOF'
echo '$ osupdate mark-good'; osupdate mark-good
echo '$ osupdate apply /mnt/device-2.0.osup'; osupdate apply /mnt/device-2.0.osup; echo "(exit $?: staged for the next boot)"
echo '$ osupdate status'; osupdate status
EOF
boot 1 "1.0 from slot a, which the image builder provisioned; apply 2.0"

rm -rf "$T/ctl" && mkdir "$T/ctl"
cat >"$T/ctl/step.sh" <<'EOF'
echo '$ osupdate status'; osupdate status
echo '$ osupdate mark-good'; osupdate mark-good
EOF
boot 2 "2.0 from slot b, on trial until it is marked good"

rm -rf "$T/ctl" && mkdir "$T/ctl"
cat >"$T/ctl/step.sh" <<'EOF'
echo '$ osupdate status'; osupdate status
EOF
boot 3 "2.0 again: good now, no longer on trial"
