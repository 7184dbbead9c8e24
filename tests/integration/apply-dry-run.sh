#!/bin/bash
# apply --dry-run and fetch --dry-run: the whole bundle verified, the planner asked, the plan printed
# per namespace (text and --json), and nothing changed: no slot file, no state, no mount, no
# deferral record, no lock left. A bundle the planner refuses fails the dry run with the same exit
# code as the real apply.
. "$(dirname "$0")/../lib/ns.sh"

setup_target
make_bundle 2
make_bundle 3
mkdir -p "$T/bin" "$T/policy.d"
cp "$WATCHER" "$T/bin/defer-watcher"
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=10min\n' >"$T/policy.d/10-defer.conf"
WATCHER="$T/bin/defer-watcher" spawn_ns service defer1
spawn_ns service force1
sleep 0.3
mounts() { awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo; in_ns defer1 awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo; }
before=$(snapshot "$T/state" "$T/run"; mounts)

expect "apply --dry-run prints the plan" 0 "Would write: slot a" osup apply --dry-run "$T/v3.osup"
out=$(osup apply --dry-run "$T/v3.osup" 2>&1)
grep -Eq "^ +$(pid_of defer1) +slave +1 +defer +10-defer.conf until [0-9]+" <<<"$out" && ok "the defer namespace: defer until its deadline" ||
        not_ok "no defer line for defer1: $out"
grep -Eq "per namespace" <<<"$out" && ok "the plan says the switch goes per namespace" || not_ok "$out"
json=$(osup apply --dry-run --json "$T/v3.osup")
ino=$(stat -L -c %i "/proc/$(pid_of defer1)/ns/mnt")
[ "$(jq -r --argjson i "$ino" '.namespaces[] | select(.inode == $i) | .action' <<<"$json")" = defer ] &&
        [ "$(jq -r '.namespaces[0].action' <<<"$json")" = now ] && [ "$(jq -r .version <<<"$json")" = 3 ] &&
        [ "$(jq -r .slot <<<"$json")" = a ] && ok "--json: version, slot, host now, defer1 defer" || not_ok "--json: $json"
expect "fetch --dry-run" 0 "Would write: slot a" osup fetch --dry-run "$T/v3.osup"
after=$(snapshot "$T/state" "$T/run"; mounts)
[ "$before" = "$after" ] && ok "nothing changed: state, runtime directory, mounts" || not_ok "dry runs changed something: $(diff <(echo "$before") <(echo "$after"))"
[ ! -e "$T/state/slots/a/image" ] && ok "no slot file written" || not_ok "slot a has an image"

expect "apply v3 for real" 0 "1 -> 3" osup apply "$T/v3.osup"
before=$(snapshot "$T/state" "$T/run"; mounts)
expect "a dry run of an older bundle fails as apply would" 21 "not newer" osup apply --dry-run "$T/v2.osup"
expect "a dry run of a tampered bundle fails as apply would" 14 "." osup apply --dry-run /dev/null
after=$(snapshot "$T/state" "$T/run"; mounts)
[ "$before" = "$after" ] && ok "failed dry runs changed nothing" || not_ok "changed: $(diff <(echo "$before") <(echo "$after"))"
finish
