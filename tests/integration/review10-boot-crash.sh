#!/bin/bash
# Review of the boot stage (issue 10): killed (SIGKILL, strace's fault injection) at a sample of its
# system calls (each rename, fsync and fchmod of state.json and booted.json, the loop device setup, the mount). After
# any kill, state.json is whole JSON, the try is either not spent yet or spent, never lost, and the
# next run boots without finding the state corrupt.
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

command -v strace >/dev/null || { echo "SKIP: no strace"; exit 77; }
# killed_at SYSCALL N: the stage killed at the Nth SYSCALL; then the checks and the next boot.
killed_at() {
        local sc=$1 n=$2 rc tries
        newroot "$T/v1.osup"
        add_b "$T/v2.osup"
        # (In a command substitution: the shell's report of the killed job is not the test's output.)
        rc=$( (strace -f -o /dev/null -e trace="$sc" -e inject="$sc":signal=KILL:when="$n" "$OSUPDATE_INITRD" --root "$R" \
                --config "$ICONF" --keys "$IKEYS" --cmdline "$T/cmdline" --run-dir "$RUN" >"$T/killed.log" 2>&1)
                echo $?) 2>/dev/null
        if [ "$rc" = 0 ]; then
                not_ok "$sc#$n: the stage made fewer calls than that: $(cat "$T/killed.log")"
                unboot
                return
        fi
        unboot
        jq -e .format "$S/state.json" >/dev/null 2>&1 && ok "$sc#$n: state.json whole" || not_ok "$sc#$n: state.json: $(ls -la "$S")"
        tries=$(jq -r '[.next_boot, .boot_tries] | map(tostring) | join(" ")' "$S/state.json" 2>/dev/null)
        case $tries in
        "b 2"|"b 1") ok "$sc#$n: the trial is b's, its try spent or not yet ($tries)" ;;
        *) not_ok "$sc#$n: next_boot and tries after the kill: $tries" ;;
        esac
        stage
        grep -q "is corrupt" <<<"$OUT" && not_ok "$sc#$n: the next boot finds the state corrupt: $OUT" || ok "$sc#$n: read again"
        boots "$sc#$n: the next boot" 2
}
for n in 1 2 3; do killed_at renameat "$n"; done
for n in 1 2 3; do killed_at fsync "$n"; done
for n in 1 3; do killed_at fchmod "$n"; done
killed_at ioctl 3
killed_at move_mount 1

finish
