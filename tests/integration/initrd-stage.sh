#!/bin/bash
# The boot stage on the host: the real osupdate-initrd, in a private mount namespace with real loop
# devices, against image roots made with `osupdate provision`. No device-mapper here, so it runs
# degraded (Verity=userspace: the whole image checked, then mounted); the qemu test covers
# dm-verity. Each "boot" runs the stage, looks at what it says, what it mounted at R/usr,
# booted.json and state.json, then unmounts R/usr. Covered: a first boot; a trial spending its
# tries and falling back; mark-good and status; Limit=; the last resort; a slot the initramfs does
# not trust (whatever the root says); a flipped byte in an image; a corrupt or missing state.json;
# nothing bootable; the kernel command line; the version floor; bad invocations; and the try spent
# durably before the slot is set up.
. "$(dirname "$0")/../lib/ns.sh"
: "${OSUPDATE_INITRD:?OSUPDATE_INITRD must point to the osupdate-initrd binary}"

make_keys
make_bundle 1
# Version 2 holds a large file with a known pattern: a byte inside a file's data to flip.
bundle_with 2 'seq -f "osupdate-initrd-stage-pattern-%08g" 1 16000 >"$d/share/pattern"'
make_bundle 3
# Version 2 and 1 signed by k3, which the initramfs does not trust.
for v in 1 2; do
        "$OSUPDATE" bundle create --key "$T/k3.pem" --os-id demo --version "$v" --tree "$T/tree$v" \
                -o "$T/u$v.osup" >/dev/null
done
mkdir "$T/keys3"
openssl pkey -in "$T/k3.pem" -pubout -out "$T/keys3/k3.pem"

# The initramfs's own configuration and keys (never the root's).
IKEYS=$T/keys
ICONF=$T/initrd.conf
printf '[Update]\nVerity=userspace\n[Boot]\nTries=3\nLimit=3\n' >"$ICONF"
RUN=$T/run
R=$T/root
S=$R/var/lib/osupdate
# The booted system's configuration, for mark-good and status.
CONF=$T/system.conf
printf '[Update]\nTarget=%s\nStateDirectory=%s\nRuntimeDirectory=%s\nKeysDirectory=%s\n' "$R/usr" "$S" "$RUN" "$IKEYS" >"$CONF"
CMDLINE="quiet"

# newroot BUNDLE [provision options…]: a fresh image root, BUNDLE provisioned into slot a.
newroot() {
        local b=$1
        shift
        unboot
        rm -rf "$R" "$RUN"
        mkdir -p "$R/etc/osupdate/keys.d" "$R/var/lib" "$R/usr"
        cp "$T/keys/k1.pem" "$R/etc/osupdate/keys.d/"
        "$OSUPDATE" provision -q "$b" --root "$R" "$@"
}

# add_b BUNDLE TRIES [provision options…]: BUNDLE into slot b (provisioned in another root, its
# slot a moved here), and state.json as `osupdate apply` leaves it on a kernel without
# mount-beneath: b ready, staged, the next boot, on trial with TRIES tries.
add_b() {
        local b=$1 tries=$2 o=$T/other v fs
        shift 2
        rm -rf "$o"
        mkdir -p "$o/etc/osupdate/keys.d" "$o/var/lib"
        cp "$T/keys/k1.pem" "$o/etc/osupdate/keys.d/"
        "$OSUPDATE" provision -q "$b" --root "$o" "$@"
        mv "$o/var/lib/osupdate/slots/a" "$S/slots/b"
        v=$(jq -r .version "$S/slots/b/manifest.json")
        fs=$(jq -r '.images[0].fstype' "$S/slots/b/manifest.json")
        jset --arg v "$v" --arg fs "$fs" --argjson n "$tries" \
                '.slots.b = {state: "ready", version: $v, fstype: $fs, good: false, unconfirmed: 0, failed: null}
                 | .next_boot = "b" | .staged = "b" | .boot_tries = $n | .good = false'
}

# jset [jq options…] FILTER: edits state.json.
jset() {
        jq "$@" "$S/state.json" >"$T/state.new"
        mv "$T/state.new" "$S/state.json"
}
st() { jq -r "$1" "$S/state.json" 2>/dev/null || echo "(no state)"; }
bj() { jq -r "$1" "$RUN/booted.json" 2>/dev/null || echo "(no booted.json)"; }

# stage [extra args…]: one boot. RC and OUT (its console) are set.
stage() {
        printf '%s\n' "$CMDLINE" >"$T/cmdline"
        rm -f "$RUN/booted.json"
        RC=0
        OUT=$("$OSUPDATE_INITRD" --root "$R" --config "$ICONF" --keys "$IKEYS" --cmdline "$T/cmdline" --run-dir "$RUN" "$@" 2>&1) || RC=$?
}
unboot() {
        while mountpoint -q "$R/usr" 2>/dev/null; do umount "$R/usr"; done
}
mounts_at_usr() { awk -v t="$R/usr" '$5 == t' /proc/self/mountinfo | wc -l; }
usr_version() { cat "$R/usr/version" 2>/dev/null || echo none; }
# Loop devices of DIR, once autoclear has had a moment.
loops_left() {
        local n
        for _ in $(seq 40); do
                n=$(loops_under "$1")
                [ "$n" = 0 ] && break
                sleep 0.05
        done
        echo "$n"
}

is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi; }
says() {
        if grep -qF -- "$2" <<<"$OUT"; then ok "$1"; else not_ok "$1: no '$2' in: $OUT"; fi
}
# booted NAME SLOT VERSION: exit 0, the console line, the image mounted, booted.json.
booted() {
        local name=$1 slot=$2 v=$3
        is "$name: exit" "$RC" 0
        says "$name: console" "osupdate: booted slot $slot, version $v, verity userspace"
        is "$name: the image mounted at R/usr is version $v" "$(usr_version)" "$v"
        is "$name: read-only" "$(findmnt -n -o OPTIONS --mountpoint "$R/usr" | tr , '\n' | grep -x ro)" ro
        is "$name: booted.json" "$(bj '[.slot, .version, .verity] | join(" ")')" "$slot $v userspace"
}

# --- 1. The first boot of a provisioned root ------------------------------------------------------
newroot "$T/v1.osup"
stage
booted "first boot" a 1
grep -q "trial" <<<"$OUT" && not_ok "first boot: a good slot is not on trial: $OUT" || ok "first boot: not on trial"
is "first boot: booted.json trial" "$(bj .trial)" false
is "first boot: state booted/active/next_boot" "$(st '[.booted, .active, .next_boot] | join(" ")')" "a a a"
is "first boot: history" "$(st '[.boots[] | .slot + " " + .version + " " + .result + " " + (.verity // "-")] | join(",")')" \
        "a 1 booting userspace"
is "first boot: slot a unconfirmed" "$(st .slots.a.unconfirmed)" 1
is "first boot: one mount at R/usr" "$(mounts_at_usr)" 1
unboot
is "first boot: the loop devices go with the unmount" "$(loops_left "$S/slots")" 0

# --- 2. A trial: two tries, then the fallback ------------------------------------------------------
newroot "$T/v1.osup"
add_b "$T/v2.osup" 2
stage
booted "trial 1" b 2
says "trial 1: console says trial" "verity userspace, trial: 1 tries left"
is "trial 1: state" "$(st '[.next_boot, .boot_tries, .booted, .staged] | map(tostring) | join(" ")')" "b 1 b null"
is "trial 1: booted.json" "$(bj '[.trial, .tries_left] | map(tostring) | join(" ")')" "true 1"
unboot
stage
booted "trial 2" b 2
says "trial 2: console says trial" "trial: 0 tries left"
is "trial 2: boot_tries" "$(st .boot_tries)" 0
unboot
stage
booted "trial 3: falls back" a 1
says "trial 3: why b was passed over" \
        "osupdate: slot b (version 2) cannot boot: version 2 used all its trial boots without reaching mark-good"
is "trial 3: slots.b.failed" "$(st .slots.b.failed)" "version 2 used all its trial boots without reaching mark-good"
is "trial 3: history" "$(st '[.boots[] | .slot + .version + " " + .result] | join(",")')" \
        "b2 unconfirmed,b2 unconfirmed,a1 booting"
is "trial 3: next boot a, not a trial" "$(st '[.next_boot, .booted, .boot_tries] | map(tostring) | join(" ")')" "a a null"
unboot

# --- 3. mark-good and status -----------------------------------------------------------------------
newroot "$T/v1.osup"
add_b "$T/v2.osup" 3
stage
booted "mark-good: trial boot" b 2
expect "mark-good" 0 "" "$OSUPDATE" mark-good --config "$CONF"
is "mark-good: slot b good, unconfirmed reset" "$(st '[.slots.b.good, .slots.b.unconfirmed] | map(tostring) | join(" ")')" "true 0"
is "mark-good: the trial ends" "$(st '[.good, .boot_tries] | map(tostring) | join(" ")')" "true null"
is "mark-good: the last boot is good" "$(st '.boots[-1] | .slot + " " + .result')" "b good"
status=$("$OSUPDATE" status --config "$CONF" 2>&1) || not_ok "status failed: $status"
grep -q "^Booted: *slot b, version 2, verity userspace" <<<"$status" && ok "status: Booted: from booted.json" ||
        not_ok "status: no Booted: line for slot b: $status"
grep -q "^Last boots:" <<<"$status" && grep -Eq "^ +.*slot b +version 2 +good +verity userspace" <<<"$status" &&
        ok "status: Last boots: lists the good boot" || not_ok "status: Last boots: $status"
# An unprivileged user may read what booted: root's directories are trusted, not refused.
chmod 755 "$T"
status=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$OSUPDATE" status --config "$CONF" 2>&1) || true
grep -q "^Booted: *slot b, version 2" <<<"$status" && ok "status as nobody: Booted: slot b" ||
        not_ok "status as nobody: $status"
chmod 700 "$T"
unboot
stage
booted "after mark-good: b again" b 2
grep -q "trial" <<<"$OUT" && not_ok "after mark-good: not a trial: $OUT" || ok "after mark-good: not on trial"
is "after mark-good: b booted, history" "$(st '[.boots[] | .slot + " " + .result] | join(",")')" "b good,b booting"
unboot

# --- 4. Limit=: a good slot booted Limit times without mark-good gives way -------------------------
printf '[Update]\nVerity=userspace\n[Boot]\nLimit=2\n' >"$T/limit.conf"
newroot "$T/v1.osup"
add_b "$T/v2.osup" 0
jset '.slots.b.good = true | .next_boot = "a" | .good = true | .boot_tries = null | .staged = null'
for n in 1 2; do
        stage --config "$T/limit.conf"
        booted "Limit=2: boot $n" a 1
        unboot
done
is "Limit=2: a unconfirmed" "$(st .slots.a.unconfirmed)" 2
stage --config "$T/limit.conf"
booted "Limit=2: the third boot takes b" b 2
says "Limit=2: why" "osupdate: slot a (version 1) cannot boot: version 1 booted 2 times in a row without reaching mark-good (Limit=2)"
is "Limit=2: slots.a.failed" "$(st .slots.a.failed)" "version 1 booted 2 times in a row without reaching mark-good (Limit=2)"
is "Limit=2: history" "$(st '[.boots[] | .slot + " " + .result] | join(",")')" "a unconfirmed,a unconfirmed,b booting"
unboot

# --- 5. The last resort: both slots used up --------------------------------------------------------
newroot "$T/v1.osup"
add_b "$T/v2.osup" 0
jset '.slots.a.unconfirmed = 2'
stage --config "$T/limit.conf"
booted "last resort" a 1
says "last resort: WARNING" "osupdate: WARNING: no slot has tries or boots left; booting slot a (version 1) as a last resort."
is "last resort: booted.json" "$(bj .last_resort)" true
is "last resort: recorded" "$(st '.boots[-1] | .slot + " " + .result + " " + .reason')" \
        "a booting last resort: no slot had tries or boots left"
unboot

# --- 6. A slot signed by a key the initramfs does not trust ----------------------------------------
# The root trusts k3 and asks for no signature at all: both ignored.
newroot "$T/v1.osup"
add_b "$T/u2.osup" 3 --keys "$T/keys3"
cp "$T/keys3/k3.pem" "$R/etc/osupdate/keys.d/"
printf '[Update]\nKeysDirectory=/etc/osupdate/keys.d\nSignaturesRequired=0\nVerity=userspace\n[Boot]\nTries=100\n' \
        >"$R/etc/osupdate/osupdate.conf"
stage
booted "untrusted b" a 1
says "untrusted b: why" "osupdate: slot b (version 2) cannot boot: its signed manifest does not authenticate with the keys of this initramfs"
is "untrusted b: never booted" "$(st '[.boots[] | select(.slot == "b")] | length')" 0
grep -q "does not authenticate" <<<"$(st .slots.b.failed)" && ok "untrusted b: slots.b.failed" ||
        not_ok "untrusted b: slots.b.failed: $(st .slots.b.failed)"
is "untrusted b: no loop device of b" "$(loops_left "$S/slots/b")" 0
is "untrusted b: no longer staged, a is the next boot" "$(st '[.staged, .next_boot] | map(tostring) | join(" ")')" "null a"
expect "untrusted b: status shows why, and no staged slot" 0 "Slot b failed: its signed manifest does not authenticate" \
        "$OSUPDATE" status --config "$CONF"
"$OSUPDATE" status --config "$CONF" 2>&1 | grep -q "^Staged:" && not_ok "untrusted b: status still shows b staged" ||
        ok "untrusted b: status shows nothing staged"
unboot

# --- 7. One byte of slot b's image flipped ---------------------------------------------------------
newroot "$T/v1.osup"
add_b "$T/v2.osup" 3
off=$(grep -obUa "osupdate-initrd-stage-pattern-00008000" "$S/slots/b/image" | head -1 | cut -d: -f1)
if [ -n "$off" ]; then
        ok "the pattern is in b's image (offset $off)"
        printf 'X' | dd of="$S/slots/b/image" bs=1 seek="$((off + 10))" conv=notrunc status=none
        stage
        booted "flipped byte" a 1
        says "flipped byte: why" "osupdate: slot b (version 2) cannot boot: its image does not match the signed root hash (dm-verity)"
        is "flipped byte: history" "$(st '[.boots[] | .slot + " " + .result + " " + (.reason // "-")] | join(",")')" \
                "b failed its image does not match the signed root hash (dm-verity),a booting -"
        is "flipped byte: slots.b.failed" "$(st .slots.b.failed)" "its image does not match the signed root hash (dm-verity)"
        is "flipped byte: one mount at R/usr (a's)" "$(mounts_at_usr)" 1
        is "flipped byte: no loop device of b left" "$(loops_left "$S/slots/b")" 0
        unboot
else
        not_ok "the pattern is not in b's image (compressed?)"
fi

# --- 8. state.json corrupt, then missing -----------------------------------------------------------
newroot "$T/v1.osup"
add_b "$T/v2.osup" 3
echo '{"format": 1, "slots": ' >"$S/state.json"
cp "$S/state.json" "$T/corrupt.json"
stage
booted "corrupt state" b 2
says "corrupt state: WARNING" "osupdate: WARNING: $S/state.json is corrupt"
cmp -s "$S/state.json.corrupt" "$T/corrupt.json" && ok "corrupt state: kept as state.json.corrupt" ||
        not_ok "corrupt state: state.json.corrupt: $(ls "$S")"
is "corrupt state: booted.json state_rebuilt" "$(bj .state_rebuilt)" true
is "corrupt state: rebuilt" "$(st '[.slots.a.state, .slots.a.version, .slots.b.state, .slots.b.version, .booted, .next_boot] | join(" ")')" \
        "ready 1 ready 2 b b"
expect "corrupt state: status reads the rebuilt state" 0 "Booted: *slot b" "$OSUPDATE" status --config "$CONF"
unboot
rm "$S/state.json"
stage
booted "missing state" b 2
says "missing state: WARNING" "osupdate: WARNING: $S/state.json is missing"
is "missing state: rebuilt" "$(st '[.slots.a.version, .slots.b.version, .booted] | join(" ")')" "1 2 b"
expect "missing state: status reads the rebuilt state" 0 "Next boot: *b" "$OSUPDATE" status --config "$CONF"
unboot
# Whether a rebuilt slot was ever marked good is lost: both count as good, so when b rots next, a
# boots as a normal fallback (not as a used-up trial, not as a last resort).
is "rebuilt: both slots count as good" "$(st '[.slots.a.good, .slots.b.good] | join(" ")')" "true true"
off=$(grep -obUa "osupdate-initrd-stage-pattern-00008000" "$S/slots/b/image" | head -1 | cut -d: -f1)
printf 'X' | dd of="$S/slots/b/image" bs=1 seek="$((${off:-0} + 10))" conv=notrunc status=none
stage
booted "rebuilt, then b rots" a 1
grep -q "last resort\|used all its trial boots" <<<"$OUT" && not_ok "rebuilt, then b rots: a was treated as used up: $OUT" ||
        ok "rebuilt, then b rots: a boots as a plain fallback"
unboot

# --- 9. Nothing bootable ---------------------------------------------------------------------------
nothing() {
        local name=$1
        is "$name: exit" "$RC" 29
        says "$name: console" "osupdate: no slot can boot: "
        is "$name: nothing mounted at R/usr" "$(mounts_at_usr)" 0
        is "$name: no booted.json" "$(bj .slot)" "(no booted.json)"
        is "$name: no loop device left" "$(loops_left "$S/slots")" 0
}
newroot "$T/u1.osup" --keys "$T/keys3"
add_b "$T/u2.osup" 3 --keys "$T/keys3"
stage
nothing "both untrusted"
says "both untrusted: why a" "slot a (version 1) cannot boot: its signed manifest does not authenticate"
if [ ! -e /dev/mapper/control ]; then
        newroot "$T/v1.osup"
        add_b "$T/v2.osup" 3
        CMDLINE="quiet osupdate.verity=kernel"
        stage
        CMDLINE=quiet
        nothing "osupdate.verity=kernel without device-mapper"
        says "osupdate.verity=kernel: b" "slot b (version 2) cannot boot: Verity=kernel, but this kernel has no device-mapper"
        says "osupdate.verity=kernel: a" "slot a (version 1) cannot boot: Verity=kernel, but this kernel has no device-mapper"
        is "osupdate.verity=kernel: both failed in the history" "$(st '[.boots[] | .slot + " " + .result] | join(",")')" \
                "b failed,a failed"
        is "osupdate.verity=kernel: slots.b.failed says why" "$(st .slots.b.failed)" \
                "Verity=kernel, but this kernel has no device-mapper"
else
        echo "# this machine has device-mapper: osupdate.verity=kernel is not a failure here"
fi

# --- 10. The kernel command line and the version floor ---------------------------------------------
newroot "$T/v1.osup"
add_b "$T/v2.osup" 0
jset '.slots.b.good = true | .next_boot = "a" | .good = true | .boot_tries = null | .staged = null'
CMDLINE="quiet osupdate.slot=b"
stage
booted "osupdate.slot=b" b 2
is "osupdate.slot=b: state" "$(st '[.booted, .next_boot] | join(" ")')" "b b"
unboot
jset '.next_boot = "a"'
CMDLINE="osupdate.slot=x quiet"
stage
booted "osupdate.slot=x" a 1
says "osupdate.slot=x: ignored" "osupdate: ignoring 'osupdate.slot=x' on the kernel command line"
unboot
jset '.version_floor = "2"'
CMDLINE="osupdate.slot=a"
stage
booted "version floor 2 with osupdate.slot=a" b 2
says "version floor: why a" "osupdate: slot a (version 1) cannot boot: version 1 is below the version floor 2"
says "version floor: the forced slot is named" "ignoring osupdate.slot=a on the kernel command line"
CMDLINE=quiet
unboot

# --- 11. Bad invocations: nothing mounted, state.json unchanged --------------------------------------
newroot "$T/v1.osup"
cp "$S/state.json" "$T/state.before"
RC=0
OUT=$("$OSUPDATE_INITRD" --config "$ICONF" --keys "$IKEYS" --cmdline "$T/cmdline" --run-dir "$RUN" 2>&1) || RC=$?
is "no --root: exit" "$RC" 2
says "no --root: message" "--root DIR"
printf '[Update]\nVerity=userspace\n[Boot]\nTries=0\n' >"$T/bad.conf"
stage --config "$T/bad.conf"
is "Tries=0: exit" "$RC" 4
grep -Eq "$T/bad.conf:4" <<<"$OUT" && ok "Tries=0: the message names file and line" || not_ok "Tries=0: $OUT"
mkdir "$T/nokeys"
stage --keys "$T/nokeys"
is "empty keys directory: exit" "$RC" 12
grep -qi "key" <<<"$OUT" && ok "empty keys directory: says so" || not_ok "empty keys: $OUT"
is "bad invocations: nothing mounted" "$(mounts_at_usr)" 0
cmp -s "$S/state.json" "$T/state.before" && ok "bad invocations: state.json unchanged" || not_ok "state.json changed"
is "bad invocations: no booted.json" "$(bj .slot)" "(no booted.json)"

# --- 12. The try is spent durably before the slot is set up ----------------------------------------
# Killed in the middle of setting it up (at the mount), the spent try and the boot are on disk.
newroot "$T/v1.osup"
add_b "$T/v2.osup" 2
if command -v strace >/dev/null; then
        RC=0
        # (In a subshell: the job report of the killed process is not the test's output.)
        (strace -f -o /dev/null -e trace=move_mount -e inject=move_mount:signal=KILL \
                "$OSUPDATE_INITRD" --root "$R" --config "$ICONF" --keys "$IKEYS" --cmdline "$T/cmdline" --run-dir "$RUN" \
                >"$T/killed.log" 2>&1) 2>/dev/null || RC=$?
        [ "$RC" -ne 0 ] && ok "killed at the mount (exit $RC)" || not_ok "not killed: $(cat "$T/killed.log")"
        is "killed: the try is spent" "$(st '[.next_boot, .boot_tries] | map(tostring) | join(" ")')" "b 1"
        is "killed: the boot is recorded" "$(st '[.boots[] | .slot + " " + .result] | join(",")')" "b booting"
        is "killed: nothing mounted" "$(mounts_at_usr)" 0
        unboot
        stage
        booted "after the kill" b 2
        says "after the kill: the last try" "trial: 0 tries left"
        is "after the kill: the killed boot is unconfirmed" "$(st '[.boots[] | .slot + " " + .result] | join(",")')" \
                "b unconfirmed,b booting"
        unboot
else
        echo "# no strace: the kill at the mount is not checked"
fi
# R/usr a regular file: the mount fails after the state write; a is below the floor, so b is the
# only slot, and its spent try and failed boot stay in state.json.
newroot "$T/v1.osup"
add_b "$T/v2.osup" 2
jset '.version_floor = "2"'
rmdir "$R/usr"
echo "not a directory" >"$R/usr"
stage
is "usr a file: exit" "$RC" 29
says "usr a file: why" "osupdate: slot b (version 2) cannot boot: the root filesystem's usr is not a directory"
is "usr a file: the try is spent" "$(st '[.next_boot, .boot_tries] | map(tostring) | join(" ")')" "b 1"
is "usr a file: a failed boot" "$(st '[.boots[] | .slot + " " + .result + " " + .reason] | join(",")')" \
        "b failed the root filesystem's usr is not a directory"
is "usr a file: still the file" "$(cat "$R/usr")" "not a directory"
is "usr a file: no loop device left" "$(loops_left "$S/slots")" 0
# R/usr a symbolic link to a directory elsewhere: refused the same way, nothing mounted through it.
rm "$R/usr"
mkdir "$T/elsewhere"
ln -s "$T/elsewhere" "$R/usr"
cp "$S/state.json" "$T/state.before"
stage
is "usr a symlink: exit" "$RC" 29
says "usr a symlink: why" "osupdate: slot b (version 2) cannot boot: the root filesystem's usr is not a directory"
mountpoint -q "$T/elsewhere" && not_ok "usr a symlink: mounted through it" || ok "usr a symlink: nothing mounted where it points"
is "usr a symlink: the last try spent" "$(st '[.next_boot, .boot_tries] | map(tostring) | join(" ")')" "b 0"
is "usr a symlink: no loop device left" "$(loops_left "$S/slots")" 0

finish
