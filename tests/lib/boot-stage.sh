# shellcheck shell=bash
# The boot stage on the host, for the review10 tests: one image root R made with `osupdate
# provision`, the stage run against it with its own (initramfs) configuration and keys, in degraded
# verity (no device-mapper here), and helpers to look at what it did.
. "$(dirname "$0")/../lib/ns.sh"
: "${OSUPDATE_INITRD:?OSUPDATE_INITRD must point to the osupdate-initrd binary}"

make_keys
make_bundle 1
make_bundle 2

ICONF=$T/initrd.conf
printf '[Update]\nVerity=userspace\n[Boot]\nTries=3\nLimit=3\n' >"$ICONF"
IKEYS=$T/keys
RUN=$T/run
R=$T/r
S=$R/var/lib/osupdate
printf 'quiet\n' >"$T/cmdline"

newroot() {
        unboot
        rm -rf "$R" "$RUN"
        mkdir -p "$R/etc/osupdate/keys.d" "$R/var/lib" "$R/usr"
        cp "$T/keys/k1.pem" "$R/etc/osupdate/keys.d/"
        "$OSUPDATE" provision -q "$1" --root "$R"
}
unboot() { while mountpoint -q "$R/usr" 2>/dev/null; do umount "$R/usr"; done; }
st() { jq -r "$1" "$S/state.json" 2>/dev/null || echo "(no state)"; }
usr_version() { cat "$R/usr/version" 2>/dev/null || echo none; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi; }
# stage: one boot, at most 60 seconds (a hang is a failure, not a stuck test). RC and OUT are set.
stage() {
        RC=0
        OUT=$(timeout -s KILL 60 "$OSUPDATE_INITRD" --root "$R" --config "$ICONF" --keys "$IKEYS" \
                --cmdline "$T/cmdline" --run-dir "$RUN" "$@" 2>&1) || RC=$?
}
# boots NAME VERSION: exit 0, that version at R/usr, and the state it left loads again.
boots() {
        is "$1: exit" "$RC" 0
        is "$1: version $2 mounted at R/usr" "$(usr_version)" "$2"
        [ "$RC" = 0 ] || echo "# $OUT"
        unboot
}
# add_b BUNDLE: BUNDLE into slot b (provisioned in another root, its slot a moved here), the next
# boot, on trial with 2 tries, as `osupdate apply` leaves it when it could only stage it.
add_b() {
        local o=$T/other v
        rm -rf "$o"
        mkdir -p "$o/etc/osupdate/keys.d" "$o/var/lib"
        cp "$T/keys/k1.pem" "$o/etc/osupdate/keys.d/"
        "$OSUPDATE" provision -q "$1" --root "$o"
        mv "$o/var/lib/osupdate/slots/a" "$S/slots/b"
        v=$(jq -r .version "$S/slots/b/manifest.json")
        jq --arg v "$v" '.slots.b = {state: "ready", version: $v, fstype: "erofs", good: false, unconfirmed: 0, failed: null}
                | .next_boot = "b" | .staged = "b" | .boot_tries = 2 | .good = false' "$S/state.json" >"$T/state.new"
        mv "$T/state.new" "$S/state.json"
}
