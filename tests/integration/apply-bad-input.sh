#!/bin/bash
# apply refuses what it must, each with a clear message and its own exit code, leaving the live
# /usr and state.json exactly as they were (docs/exit-codes.md).
. "$(dirname "$0")/../lib/ns.sh"
: "${CRAFT:?CRAFT must point to bundle-craft}"

setup_target
for v in 3 4; do make_bundle "$v"; done
osup apply "$T/v3.osup" >/dev/null && ok "v3 applied (slot a)" || not_ok "v3 did not apply"

# refused NAME CODE REGEX CMD…: exit CODE, message REGEX, live version and state.json unchanged.
refused() {
        local name=$1 code=$2 regex=$3 live_before state_before
        shift 3
        live_before=$(cat "$TARGET/version")
        state_before=$(sha256sum <"$T/state/state.json")
        slots_before=$(snapshot "$T/state/slots")
        expect "$name" "$code" "$regex" "$@"
        [ "$(cat "$TARGET/version")" = "$live_before" ] || not_ok "$name: the live version changed"
        [ "$(sha256sum <"$T/state/state.json")" = "$state_before" ] || not_ok "$name: state.json changed"
        [ "$(snapshot "$T/state/slots")" = "$slots_before" ] || not_ok "$name: a slot changed"
        [ "$(awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo | wc -l)" = 1 ] || not_ok "$name: mounts at the target changed"
}

make_tree "$T/other" 5 other
"$OSUPDATE" bundle create --key "$T/k1.pem" --os-id other --version 5 --tree "$T/other" -o "$T/other.osup" >/dev/null
refused "another OS id" 17 'for OS "other", this device runs "demo"' osup apply "$T/other.osup"
make_tree "$T/arm" 5
"$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --arch aarch64 --version 5 --tree "$T/arm" -o "$T/arm.osup" >/dev/null
refused "another architecture" 17 "for architecture aarch64" osup apply "$T/arm.osup"
make_bundle 2
refused "an older version" 21 "version 2 is not newer than the running version 3" osup apply "$T/v2.osup"
refused "the same version" 21 "version 3 is not newer than the running version 3" osup apply "$T/v3.osup"
make_tree "$T/t9" 9
"$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version 9 --min-version 8 --tree "$T/t9" -o "$T/v9.osup" >/dev/null
refused "min_version not reached" 22 "requires the device to run at least 8 first" osup apply "$T/v9.osup"
"$OSUPDATE" bundle create --key "$T/k3.pem" --os-id demo --version 5 --tree "$T/t9" -o "$T/untrusted.osup" >/dev/null
refused "an untrusted signer" 11 "0 valid signature" osup apply "$T/untrusted.osup"
"$CRAFT" "$T/v4.osup" "$T/reordered.osup" --swap manifest.json manifest.sig
refused "a malformed bundle" 14 "expected manifest.json" osup apply "$T/reordered.osup"
refused "a missing bundle" 3 "Cannot open bundle" osup apply "$T/nope.osup"

# An image whose own os-release disagrees with its manifest: the bundle verifies, the image is
# checked before it is mounted anywhere.
make_tree "$T/liar" 4
"$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version 7 --tree "$T/liar" -o "$T/liar.osup" >/dev/null
live_before=$(cat "$TARGET/version")
expect "an image whose os-release disagrees with its manifest" 25 "os-release says demo 4, its manifest demo 7" \
        osup apply "$T/liar.osup"
[ "$(cat "$TARGET/version")" = "$live_before" ] && [ "$(jq -r .active "$T/state/state.json")" = a ] &&
        [ "$(awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo | wc -l)" = 1 ] &&
        ok "liar: live version, active slot and mounts unchanged" || not_ok "liar changed the live system"
[ "$(loops_under "$T/state")" = 1 ] && ok "liar: its loop device is gone" || not_ok "liar: $(loops_under "$T/state") slot loop devices"
# Not left "ready" for apply --staged or a boot to try again: the slot is emptied.
[ "$(jq -r .slots.b.state "$T/state/state.json")" = empty ] && [ ! -e "$T/state/slots/b/image" ] &&
        ok "liar: its slot is emptied, not left ready" || not_ok "liar: slot b $(jq -c .slots.b "$T/state/state.json"), $(ls "$T/state/slots/b")"
expect "liar: apply --staged finds nothing to switch to" 29 "No slot is staged" osup apply --staged

# An image of another filesystem than its (signed) manifest says: verified, refused at the mount,
# its slot emptied.
tar -C "$T" -xf "$T/v4.osup" manifest.json
jq -c '.images[0].fstype = "squashfs"' "$T/manifest.json" >"$T/manifest-sq.json"
"$CRAFT" "$T/v4.osup" "$T/wrongfs.osup" --manifest "$T/manifest-sq.json" --sign "$T/k1.pem"
expect "an image that is not the filesystem its manifest names" 17 "not a squashfs filesystem" osup apply "$T/wrongfs.osup"
st=$(cat "$T/state/state.json")
[ "$(cat "$TARGET/version")" = 3 ] && [ "$(jq -r .active <<<"$st")" = a ] && [ "$(jq -r .slots.b.state <<<"$st")" = empty ] &&
        ok "wrong filesystem: live and active unchanged, its slot emptied" || not_ok "wrong filesystem: $st"

# A tampered image: streamed into the inactive slot, found bad at its end: the slot is emptied,
# nothing is mounted, the active slot stays.
"$CRAFT" "$T/v4.osup" "$T/tampered.osup" --flip usr.erofs 7000
expect "a tampered image" 10 "image was altered" osup apply "$T/tampered.osup"
st=$(cat "$T/state/state.json")
[ "$(cat "$TARGET/version")" = 3 ] && [ "$(jq -r .active <<<"$st")" = a ] && [ "$(jq -r .slots.b.state <<<"$st")" = empty ] &&
        [ -z "$(ls -A "$T/state/slots/b")" ] && ok "tampered: slot b emptied, slot a still live" ||
        not_ok "tampered: $(ls -A "$T/state/slots/b") $st"

# Trailing garbage is found only at the end, after the payload streamed into slot b: the same.
"$CRAFT" "$T/v4.osup" "$T/trailing.osup" --trailing junk
expect "trailing data after the bundle" 14 "trailing data" osup apply "$T/trailing.osup"
st=$(cat "$T/state/state.json")
[ "$(cat "$TARGET/version")" = 3 ] && [ "$(jq -r .active <<<"$st")" = a ] && [ "$(jq -r .slots.b.state <<<"$st")" = empty ] &&
        [ -z "$(ls -A "$T/state/slots/b")" ] && ok "trailing: slot b emptied, slot a still live" || not_ok "trailing: $st"

# Broken policies: refused with file and line before anything changes.
mkdir -p "$T/policy.d"
printf '[Match]\nUnit=web.service\n[Policy]\nMode=defer\nDeadline=30min\n' >"$T/policy.d/10-good.conf"
for bad in 'Mode=later' 'Deadline=tomorrow' 'Notify=SIGNOPE' 'Colour=blue'; do
        printf '[Policy]\n%s\n' "$bad" >"$T/policy.d/20-bad.conf"
        refused "a broken policy ($bad)" 4 "20-bad.conf:2: (invalid value for ${bad%%=*}=|unknown key ${bad%%=*}=)" \
                osup apply "$T/v4.osup"
done
printf '[Mach]\nUnit=x\n' >"$T/policy.d/20-bad.conf"
refused "a policy with an unknown section" 4 "20-bad.conf:1: unknown section" osup apply "$T/v4.osup"
rm -r "$T/policy.d"

# Not a mount point; corrupt state; another apply holding the lock; Verity=kernel without
# device-mapper; both slots in use.
sed "s|^Target=.*|Target=$T/plain|" "$CONF" >"$T/plain.conf"
mkdir -p "$T/plain/lib"
cp "$TARGET/lib/os-release" "$T/plain/lib/"
refused "a target that is not a mount point" 23 "is not a mount point" "$OSUPDATE" apply "$T/v4.osup" --config "$T/plain.conf"

cp "$T/state/state.json" "$T/state.good"
printf '{"format": 1, "slots": ' >"$T/state/state.json"
refused "a corrupt state file" 24 "state.json is corrupt" osup apply "$T/v4.osup"
jq '.slots.a.state = "sideways"' "$T/state.good" >"$T/state/state.json"
refused "a state file with an unknown slot state" 24 "state.json is corrupt" osup apply "$T/v4.osup"
cp "$T/state.good" "$T/state/state.json"

flock "$T/run/lock" sleep 3 &
sleep 0.3
refused "another update in progress" 20 "Another update is in progress" osup apply "$T/v4.osup"
wait

if [ ! -e /dev/mapper/control ]; then
        sed 's/^\[Update\]$/[Update]\nVerity=kernel/' "$CONF" >"$T/kernel.conf"
        expect "Verity=kernel without device-mapper" 28 "no device-mapper" "$OSUPDATE" apply "$T/v4.osup" --config "$T/kernel.conf"
        [ "$(cat "$TARGET/version")" = 3 ] && [ "$(jq -r .active "$T/state/state.json")" = a ] &&
                ok "Verity=kernel: nothing switched" || not_ok "Verity=kernel switched something"
fi

# The booted slot is never written: with a booted and b active, there is no slot to write.
# First: a slot still mounted in some namespace is not written either. A container that holds
# slot a's image (v3) keeps it after v4 goes live in slot b; v5 then finds no free slot.
spawn_ns container ctr
sleep 0.3
osup apply "$T/v4.osup" >/dev/null && ok "v4 applied (slot b)" || not_ok "v4 did not apply"
[ "$(version_in ctr)" = 3 ] && ok "the container still runs v3 from slot a" || not_ok "container: $(version_in ctr)"
make_bundle 5
refused "the inactive slot is still mounted in a container" 26 "still mounted in some namespace" osup apply "$T/v5.osup"
kill -TERM "$(pid_of ctr)"
sleep 0.5
jq '.booted = "a"' "$T/state/state.json" >"$T/s" && cp "$T/s" "$T/state/state.json"
refused "both slots in use (a booted, b live)" 26 "both slots are booted or live" osup apply "$T/v5.osup"

# The version floor: rollback below it is refused, as is an apply below it.
expect "mark-good --raise-floor" 0 "raised the version floor" osup mark-good --raise-floor
jq '.booted = null' "$T/state/state.json" >"$T/s" && cp "$T/s" "$T/state/state.json"
refused "rollback below the floor" 21 "version floor 4" osup rollback
jq '.version_floor = "10"' "$T/state/state.json" >"$T/s" && cp "$T/s" "$T/state/state.json"
refused "an apply below the floor" 21 "below this device's version floor 10" osup apply "$T/v5.osup"

finish
