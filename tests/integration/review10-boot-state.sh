#!/bin/bash
# Review of the boot stage (issue 10) as someone who had the disk offline: the state directory's
# files replaced by things that are not regular files, values at their limits, a history full of
# huge strings. Whatever the root holds, the stage must not hang, crash or refuse to boot a slot
# that authenticates, and what it writes back must load again.
. "$(dirname "$0")/../lib/boot-stage.sh"
# loads_again NAME: the state the last run left is read by the next one as it is (no "corrupt").
loads_again() {
        jq -e .format "$S/state.json" >/dev/null 2>&1 && ok "$1: state.json is JSON" || not_ok "$1: state.json: $(ls -la "$S")"
        is "$1: state.json is a regular file" "$(stat -c %F "$S/state.json" 2>/dev/null)" "regular file"
        [ "$(stat -c %s "$S/state.json" 2>/dev/null || echo 0)" -le 65536 ] && ok "$1: state.json within 64 KiB" ||
                not_ok "$1: state.json is $(stat -c %s "$S/state.json") bytes"
        stage
        grep -q "is corrupt" <<<"$OUT" && not_ok "$1: the next boot finds the state corrupt: $OUT" || ok "$1: the next boot reads it"
        boots "$1: the next boot" "$2"
}
jset() { jq -c "$@" "$S/state.json" >"$T/state.new" && mv "$T/state.new" "$S/state.json"; }

# --- 1. state.json is not a regular file ----------------------------------------------------------
# Rebuilt from the slots (like a corrupt file), never followed, never blocked on.
newroot "$T/v1.osup"
rm "$S/state.json"
mkdir "$S/state.json"
stage
boots "state.json a directory" 1
grep -q "WARNING: $S/state.json is corrupt" <<<"$OUT" && ok "state.json a directory: WARNING" || not_ok "directory: $OUT"
is "state.json a directory: kept aside" "$(stat -c %F "$S/state.json.corrupt" 2>/dev/null)" directory
loads_again "state.json a directory" 1

newroot "$T/v1.osup"
mv "$S/state.json" "$T/elsewhere.json"
cp "$T/elsewhere.json" "$T/elsewhere.before"
ln -s "$T/elsewhere.json" "$S/state.json"
stage
boots "state.json a symlink" 1
cmp -s "$T/elsewhere.json" "$T/elsewhere.before" && ok "state.json a symlink: where it points is untouched" ||
        not_ok "state.json a symlink: the stage wrote through it"
is "state.json a symlink: the link kept aside" "$(stat -c %F "$S/state.json.corrupt" 2>/dev/null)" "symbolic link"
loads_again "state.json a symlink" 1

newroot "$T/v1.osup"
rm "$S/state.json"
mkfifo "$S/state.json"
stage
boots "state.json a FIFO (no hang)" 1
loads_again "state.json a FIFO" 1

newroot "$T/v1.osup"
rm "$S/state.json"
mknod "$S/state.json" c 1 5
stage
boots "state.json /dev/zero" 1
loads_again "state.json /dev/zero" 1

# --- 2. Counts at the limit state_load() takes ----------------------------------------------------
newroot "$T/v1.osup"
jset '.slots.a.unconfirmed = 1000000'
stage
boots "unconfirmed 1000000" 1
is "unconfirmed 1000000: stays at the limit" "$(jq -r .slots.a.unconfirmed "$S/state.json")" 1000000
loads_again "unconfirmed 1000000" 1

# --- 3. Strings that grow when written back --------------------------------------------------------
# json-c writes "/" as "\/": a file just under 64 KiB of slashes would come back twice as large.
slashes() { head -c "$1" /dev/zero | tr '\0' /; }
newroot "$T/v1.osup"
jset --arg f "$(slashes 3900)" '.boots = [range(8) | {slot: "a", version: "1", result: "unconfirmed", reason: $f, verity: $f, time: 1}]'
[ "$(stat -c %s "$S/state.json")" -le 65536 ] && ok "history of slashes: under 64 KiB as written" || not_ok "too large a fixture"
stage
boots "history of slashes" 1
is "history of slashes: the boot just made is recorded" "$(jq -r '.boots[-1] | .slot + " " + .result' "$S/state.json")" "a booting"
loads_again "history of slashes" 1

newroot "$T/v1.osup"
jset --arg f "$(slashes 32700)" '.slots.b = {state: "writing", failed: $f}'
[ "$(stat -c %s "$S/state.json")" -le 65536 ] && ok "failed of slashes: under 64 KiB as written" || not_ok "too large a fixture"
stage
boots "failed of slashes" 1
loads_again "failed of slashes" 1

finish
