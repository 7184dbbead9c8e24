#!/bin/bash
# Review of the boot stage (issue 10): killed (SIGKILL, strace's fault injection) at a sample of its
# system calls (each rename, fsync and fchmod of state.json and booted.json, the loop device setup, the mount). After
# any kill, state.json is whole JSON, the try is either not spent yet or spent, never lost, and the
# next run boots without finding the state corrupt.
. "$(dirname "$0")/../lib/boot-stage.sh"

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
