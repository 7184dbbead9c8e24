#!/bin/bash
# A device's life in real boots (issue 10): Debian's 6.1 kernel under qemu (TCG), a root disk made
# with `osupdate provision` and mkfs.ext4 -d, the initrd stage (osupdate-initrd) in the initramfs,
# bundles brought by a per-boot control disk (no guest networking). Every boot is asserted from the
# guest's console: what osupdate-initrd printed, and what the booted system saw (slot, version and
# verity mode from /run/osupdate/booted.json, VERSION_ID of the mounted /usr, the canary read
# through the slot's verity).
#
# The configuration (of the initramfs AND of the root) sets [Boot] Tries=2 and Limit=2 instead of
# the default 3 and 3, to save boots. The walk (11 boots):
#   1  v1 from slot a (provisioned): mark-good; apply v2 -> exit 27, staged into b
#   2  v2 from b on trial (1 try left): mark-good; apply v3 -> staged into a
#   3  v3 from a on trial, never marked good
#   4  v3 from a on trial (0 tries left), never marked good
#   5  v2 from b: a's tries are used up (console and status say why); mark-good; apply v4 -> a,
#      and the power is cut (qemu killed) while the slot is being written
#   6  v2 from b again, unchanged; slot a is neither v3 nor a ready v4; apply v4 again completes
#      (exit 27)
#   7  v4, as the interrupted update wrote it, from a on trial: mark-good. Host: one byte of a's
#      canary flipped on the disk
#   8  v4 from a: dm-verity catches the flipped byte when init reads the canary; the kernel
#      restarts (OnCorruption=restart; qemu -no-reboot stops): the boot never completes
#   9  the same (a good slot gets Limit=2 boots that never reach mark-good)
#  10  v2 from b (a used up its limit); mark-good; a rogue key is added to the ROOT's keys.d and
#      v5, signed only by it, applied (the guest's osupdate trusts the root's keys): staged into a
#  11  the initramfs trusts only its own keys: a (v5) cannot boot, v2 from b boots
# The fallback boots carry the power cut (5) and the rogue apply (10), and the image written after
# the cut is the one that boots and is then corrupted (7-9): 11 boots for what took 12 before.
#
# For speed, a release's /usr is busybox, os-release, the guest's init and a canary (a few MiB):
# osupdate and its libraries live once on the root filesystem under /opt/osupdate (see
# tests/lib/guest.sh). This is a test rig: what the booted /usr holds does not matter to what is
# tested here (the stage, the slots, the counting, verity). Only v4 is big (PAD_MIB of random
# bytes): its write into slot a must last long enough for boot 5 to cut the power midway. qemu
# boots the same Debian kernel from its uncompressed vmlinux (PVH entry), when it can be extracted.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../lib/guest.sh"
guest_require
on_exit guest_stop
# LIFE_LOGS=DIR keeps every boot's console there.
[ -z "${LIFE_LOGS:-}" ] || on_exit 'cp "$T"/boot-*.log "$LIFE_LOGS"/'
: "${OSUPDATE_INITRD:?OSUPDATE_INITRD must point to osupdate-initrd}"
start=$(date +%s)

make_keys                      # k1 signs releases; k3 is the rogue key
printf '[Boot]\n# 2 and 2 instead of 3 and 3: fewer boots in this test.\nTries=2\nLimit=2\n' >"$T/osupdate.conf"
openssl pkey -in "$T/k3.pem" -pubout -out "$T/rogue.pem"
mkdir -p "$T/trusted" && cp "$T/keys/k1.pem" "$T/trusted/"

# The incompressible padding of v4, in MiB (boot 5 cuts the power once 8 MiB of it are written).
PAD_MIB=16
# bundle V [KEY]: the release V (its own /usr tree), signed by KEY (default k1); v4 padded.
bundle() {
        local v=$1 key=${2:-$T/k1.pem} pad=0
        [ "$v" != 4 ] || pad=$PAD_MIB
        rm -rf "${T:?}/usr"
        guest_usr_tree "$T/usr" "$v" life "$pad"
        "$OSUPDATE" bundle create -q --key "$key" --os-id life --version "$v" --tree "$T/usr" -o "$T/v$v.osup"
}

# The initramfs: Debian's mkinitramfs with our hook and local-bottom script (tests/lib/initramfs.sh)
# where it can run here, else the same stage assembled by the test (busybox /init running
# osupdate-initrd); the kind is printed.
guest_make_initramfs "$T/initrd.img" "$T/trusted" "$T/osupdate.conf"
echo "# initramfs: $GUEST_INITRAMFS_KIND"

# The device: provisioned with v1, offline, nothing mounted on the host.
bundle 1
guest_root_tree "$T/root" "$T/trusted" "$T/osupdate.conf"
"$OSUPDATE" provision -q "$T/v1.osup" --root "$T/root"
isize=$(stat -c %s "$T/root/var/lib/osupdate/slots/a/image")
# Room for the two slots and a partial image of the padded v4 beside them.
guest_root_disk "$T/root" "$T/disk.img" $((4 * isize / 1048576 + 2 * PAD_MIB + 32))
rm -rf "$T/root" "$T/v1.osup"

# step FILE…: this boot's step.sh (from stdin) and files on a new control disk. In step.sh:
# `run NAME CMD…` prints CMD's output and "LIFE NAME rc=N"; `state` prints state.json on one line.
step() {
        rm -rf "$T/ctl" && mkdir "$T/ctl"
        { cat <<'PRELUDE'
run() { n=$1; shift; "$@"; echo "LIFE $n rc=$?"; }
state() { echo "LIFE state $(tr -d '\n' </var/lib/osupdate/state.json)"; }
PRELUDE
          cat; } >"$T/ctl/step.sh"
        [ $# -eq 0 ] || cp "$@" "$T/ctl/"
        guest_control "$T/ctl" "$T/ctl.img"
}

N=0
L=
# boot [APPEND…]: the next boot, to its end; $L is its console. A boot that does not end in time is
# a failure (with the console's tail); one that did not reach "LIFE done" is checked by the caller.
boot() {
        N=$((N + 1))
        L=$T/boot-$N.log
        local t0=$SECONDS
        guest_boot "$L" "$T/disk.img" "$T/ctl.img" "$T/initrd.img" 240 "$@" || true
        echo "# boot $N: $((SECONDS - t0)) s"
        if ! grep -q 'reboot: \(Power down\|Restarting system\)' "$L" && ! grep -q '^LIFE done' "$L"; then
                not_ok "boot $N did not end (hang or timeout); console tail:"
                tail -30 "$L"
        fi
}
# dump: the end of the current boot's console, after a failed check of it.
dump() { echo "# --- console of boot $N:"; grep -v '^LIFE booted.json' "$L" | tail -40 | sed 's/^/#   /'; }
# rc NAME: the exit code step.sh recorded for NAME.
rc() { sed -n "s/^LIFE $1 rc=//p" "$L" | tail -1; }
# st JQ: a field of the state.json printed last in this boot.
st() { sed -n 's/^LIFE state //p' "$L" | tail -1 | jq -r "$1" 2>/dev/null; }

# booted SLOT VERSION [TRIAL]: osupdate-initrd's line and what the booted system saw.
booted() {
        local s=$1 v=$2 trial=${3:-} line want
        want="osupdate: booted slot $s, version $v, verity kernel${trial:+, trial: $trial tries left}"
        line=$(grep '^osupdate: booted slot' "$L" | tail -1 || true)
        if [ "$line" = "$want" ]; then
                ok "boot $N: the initrd says \"$want\""
        else
                not_ok "boot $N: expected \"$want\", got \"$line\""
                dump
        fi
        want="LIFE booted slot=$s version=$v os-release=$v verity=kernel canary=ok"
        line=$(grep '^LIFE booted slot=' "$L" | sed 's/ uptime=.*//' || true)
        [ "$line" = "$want" ] && ok "boot $N: the system runs slot $s, version $v (os-release), verity kernel, canary intact" ||
                { not_ok "boot $N: expected \"$want\", got \"$line\""; dump; }
        grep -q '^LIFE done' "$L" && ok "boot $N completed" || { not_ok "boot $N did not complete"; dump; }
}
# expect_rc NAME CODE WHAT
expect_rc() {
        local got
        got=$(rc "$1")
        [ "$got" = "$2" ] && ok "boot $N: $3 (exit $2)" || { not_ok "boot $N: $3: exit '$got', expected $2"; dump; }
}
# has REGEX WHAT: the console of this boot has a line matching REGEX.
has() {
        grep -Eq -- "$1" "$L" && ok "boot $N: $2" || { not_ok "boot $N: $2: no line matches /$1/"; dump; }
}

# --- 1: v1 from slot a; mark-good; apply v2 (staged on 6.1: exit 27).
bundle 2
step "$T/v2.osup" <<'EOF'
run mark-good osupdate mark-good
run apply osupdate apply /mnt/v2.osup
osupdate status
state
EOF
boot
booted a 1
expect_rc mark-good 0 "mark-good of v1"
expect_rc apply 27 "apply v2 on 6.1 stages it for the next boot"
has '^Booted: +slot a, version 1, verity kernel$' "status: booted slot a, version 1, verity kernel"
has '^Staged: +slot b, version 2, for the next boot' "status: v2 staged in slot b"
[ "$(st '[.next_boot, .boot_tries] | join(" ")')" = "b 2" ] && ok "state: next boot b with 2 tries" ||
        not_ok "state after boot 1: $(st .)"

# --- 2: v2 from b on trial; mark-good; apply v3 (-> a).
bundle 3
step "$T/v3.osup" <<'EOF'
osupdate status
run mark-good osupdate mark-good
run apply osupdate apply /mnt/v3.osup
state
EOF
boot
booted b 2 1
has '^Booted: +slot b, version 2, verity kernel, on trial$' "status: booted slot b on trial"
expect_rc mark-good 0 "mark-good of v2"
expect_rc apply 27 "apply v3 staged"
[ "$(st '[.slots.b.good, .next_boot, .slots.a.version] | join(" ")')" = "true a 3" ] &&
        ok "state: v2 good, v3 in slot a next" || not_ok "state after boot 2: $(st .)"

# --- 3, 4: v3 on trial twice, never marked good.
step <<'EOF'
state
EOF
boot
booted a 3 1
boot
booted a 3 0
[ "$(st '.slots.a.good')" = false ] && ok "v3 never marked good" || not_ok "state: $(st .)"

# --- 5: a's tries are used up: v2 from b; the reason on the console and in status; mark-good;
# the power is cut while v4 is written into slot a.
bundle 4
step "$T/v4.osup" <<'EOF'
osupdate status
run mark-good osupdate mark-good
state
osupdate apply /mnt/v4.osup >/tmp/apply.log 2>&1 &
p=$!
total=$(stat -c %s /mnt/v4.osup)
i=0
while [ $i -lt 3000 ]; do
        s=$(stat -c %s /var/lib/osupdate/slots/a/image.partial 2>/dev/null || echo 0)
        [ "$s" -ge 8388608 ] && break
        kill -0 $p 2>/dev/null || break
        usleep 10000
        i=$((i + 1))
done
kill -STOP $p
sync
echo "LIFE writing slot a: $s of about $total bytes"
ls -l /var/lib/osupdate/slots/a
state
cat /tmp/apply.log
sleep 60
echo "LIFE not killed"
EOF
N=$((N + 1)) L=$T/boot-$N.log
t0=$SECONDS
guest_boot_start "$L" "$T/disk.img" "$T/ctl.img" "$T/initrd.img" 240
guest_kill_when "$L" '^LIFE writing slot a' 0.3 || true
guest_boot_wait "$L" || true
echo "# boot $N: $((SECONDS - t0)) s"
# The boot itself, as booted() checks it (it never reaches "LIFE done": the power is cut).
booted_line=$(grep '^osupdate: booted slot' "$L" || true)
[ "$booted_line" = "osupdate: booted slot b, version 2, verity kernel" ] && ok "boot $N: v2 from slot b after a's tries" ||
        { not_ok "boot $N: $booted_line"; dump; }
line=$(grep '^LIFE booted slot=' "$L" | sed 's/ uptime=.*//' || true)
[ "$line" = "LIFE booted slot=b version=2 os-release=2 verity=kernel canary=ok" ] &&
        ok "boot $N: the system runs slot b, version 2 (os-release), verity kernel, canary intact" ||
        { not_ok "boot $N: the system says \"$line\""; dump; }
has '^osupdate: slot a \(version 3\) cannot boot: .+' "the initrd says why slot a (v3) cannot boot"
has '^Slot a failed: .+' "status shows why slot a failed"
has '^Last boots:' "status lists the last boots"
expect_rc mark-good 0 "mark-good of v2 again"
w=$(sed -n 's/^LIFE writing slot a: \([0-9]*\) of.*/\1/p' "$L")
if [ -n "$w" ] && [ "$w" -ge 8388608 ] && [ "$w" -lt "$(stat -c %s "$T/v4.osup")" ] && ! grep -q '^LIFE not killed' "$L"; then
        ok "the power was cut while slot a was being written ($w bytes)"
else
        not_ok "no power cut mid-write (written: '$w')"
        dump
fi

# --- 6: the booted slot, unchanged; the interrupted update runs again and completes.
step "$T/v4.osup" <<'EOF'
state
osupdate status
run mark-good osupdate mark-good
run apply osupdate apply /mnt/v4.osup
osupdate status
EOF
boot
booted b 2
a_state=$(st '[.slots.a.state, .slots.a.version // "-"] | join(" ")')
[ "$a_state" != "ready 4" ] && [ "$a_state" != "ready 3" ] &&
        ok "after the power cut slot a is neither v3 nor a ready v4 (state: $a_state)" ||
        not_ok "slot a after the cut: $(st .slots.a)"
expect_rc apply 27 "the interrupted apply of v4 runs again and stages it"
has '^Staged: +slot a, version 4, for the next boot' "status: v4 staged in slot a"

# --- 7: v4, as the interrupted update wrote it, from a on trial; mark-good.
step <<'EOF'
run mark-good osupdate mark-good
state
EOF
boot
booted a 4 1
expect_rc mark-good 0 "mark-good of v4"

# Host, offline: one byte of slot a's canary flipped on the disk. The journal is replayed first so
# that debugfs lists the blocks the guest will read.
e2fsck -fy "$T/disk.img" >"$T/fsck.log" 2>&1 || [ $? -le 1 ] || { not_ok "e2fsck: $(cat "$T/fsck.log")"; }
debugfs -R "dump /var/lib/osupdate/slots/a/image $T/a.img" "$T/disk.img" 2>/dev/null
coff=$(grep -obUa 'CANARY-life-4:' "$T/a.img" | head -1 | cut -d: -f1 || true)
if [ -n "$coff" ]; then
        ioff=$((coff + 32768)) cblock=$(((coff + 32768) / 4096))
        doff=$(guest_file_offset "$T/disk.img" /var/lib/osupdate/slots/a/image "$ioff" || true)
        printf 'X' | dd of="$T/disk.img" bs=1 seek="$doff" conv=notrunc status=none
        debugfs -R "dump /var/lib/osupdate/slots/a/image $T/a2.img" "$T/disk.img" 2>/dev/null
        diff=$(cmp -l "$T/a.img" "$T/a2.img" | awk '{print $1 - 1}' | tr '\n' ' ' || true)
        [ "$diff" = "$ioff " ] && ok "one byte of slot a's image flipped on the disk (image offset $ioff)" ||
                not_ok "the flip changed image offsets '$diff', expected $ioff"
else
        not_ok "canary of v4 not found in slot a's image"
fi
rm -f "$T/a.img" "$T/a2.img"

# --- 8, 9: verity catches it; the boot never completes.
step <<'EOF'
run mark-good osupdate mark-good
EOF
for _ in 1 2; do
        boot
        has '^osupdate: booted slot a, version 4, verity kernel$' "the initrd set up v4 in slot a"
        has "device-mapper: verity: [0-9]+:[0-9]+: data block ${cblock:-?} is corrupted" \
                "dm-verity reports the flipped block (${cblock:-?}) as corrupted on the console"
        has "reboot: Restarting system with command 'dm-verity device corrupted'" "dm-verity restarts the machine"
        if grep -q '^LIFE done' "$L" || grep -q '^LIFE booted' "$L"; then
                not_ok "boot $N: the system came up from the corrupt slot"
                dump
        else
                ok "boot $N: the boot is not completed"
        fi
done

# --- 10: v2 from b (a used up its limit); mark-good; a rogue key in the ROOT's keys.d, v5 signed
# only by it.
bundle 5 "$T/k3.pem"
step "$T/v5.osup" "$T/rogue.pem" <<'EOF'
run mark-good osupdate mark-good
cp /mnt/rogue.pem /etc/osupdate/keys.d/
run apply osupdate apply /mnt/v5.osup
state
EOF
boot
booted b 2
has '^osupdate: slot a \(version 4\) cannot boot: .+' "the initrd says why slot a (v4) cannot boot"
expect_rc mark-good 0 "mark-good of v2"
expect_rc apply 27 "the guest's osupdate (trusting the root's keys) stages v5 signed by the rogue key"
[ "$(st '[.staged, .next_boot, .slots.a.version] | join(" ")')" = "a a 5" ] && ok "state: v5 staged in slot a, the next boot" ||
        not_ok "state after boot $N: $(st .)"

# --- 11: the initramfs trusts only its own keys: v5 never boots.
step <<'EOF'
osupdate status
state
EOF
boot
booted b 2
has '^osupdate: slot a \(version 5\) cannot boot: .+' "the initrd refuses slot a (v5, rogue key) and says why"
has '^Slot a failed: .+' "status shows why slot a failed"
grep -q '^LIFE booted slot=a' "$L" && not_ok "slot a was booted" || true
[ "$(st .staged)" = null ] && [ "$(st .next_boot)" = b ] && ok "slot a is no longer staged; b is the next boot" ||
        not_ok "after the refusal: staged $(st .staged), next boot $(st .next_boot)"

echo "# $N boots in $(($(date +%s) - start)) s"
finish
