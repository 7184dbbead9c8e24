#!/bin/bash
# Review of the boot stage (issue 10) as a hostile publisher whose signed bundle the device
# installed: an image whose own lib/os-release lies about its version, is a FIFO (a blocking read),
# a symlink out of the image, a directory, or huge. Each must be refused after its try is spent,
# with the other slot booted instead, no hang and nothing of it left mounted.
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

# bad NAME VERSION: slot b (VERSION) refused for its os-release, a (1) booted, b's failure recorded.
bad() {
        newroot "$T/v1.osup"
        add_b "$T/v$2.osup"
        stage
        grep -qF "osupdate: slot b (version $2) cannot boot: its image's own os-release does not match its signed manifest" \
                <<<"$OUT" && ok "$1: refused for its os-release" || not_ok "$1: $OUT"
        is "$1: b's try is spent and its boot failed" \
                "$(jq -r '[.boots[] | .slot + " " + .result] | join(",")' "$S/state.json")" "b failed,a booting"
        is "$1: one mount at R/usr" "$(awk -v t="$R/usr" '$5 == t' /proc/self/mountinfo | wc -l)" 1
        boots "$1" 1
}
bundle_with 4 'printf "ID=demo\nIMAGE_VERSION=9\n" >"$d/lib/os-release"'
bad "os-release names another version" 4
bundle_with 5 'rm "$d/lib/os-release"; mkfifo "$d/lib/os-release"'
bad "os-release a FIFO" 5
bundle_with 6 'rm "$d/lib/os-release"; ln -s /proc/self/environ "$d/lib/os-release"'
bad "os-release a symlink out of the image" 6
bundle_with 7 'rm "$d/lib/os-release"; mkdir "$d/lib/os-release"'
bad "os-release a directory" 7
bundle_with 8 'head -c 2000000 /dev/zero | tr "\\0" "#" >>"$d/lib/os-release"'
bad "os-release of 2 MB" 8

finish
