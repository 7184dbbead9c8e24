#!/bin/bash
# A deferral is recorded with one process of its namespace. That process exiting must not drop the
# deferral (and its deadline) while the namespace lives on in others: every command enforcing
# deadlines used to take any failure to open /proc/PID/ns/mnt as "namespace gone". The namespace
# stays on record, its other processes can check and release, and its deadline still ends it.
. "$(dirname "$0")/../lib/ns.sh"

setup_target
make_bundle 2
mkdir -p "$T/bin" "$T/policy.d"
cp "$WATCHER" "$T/bin/defer-watcher"
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=1h\n' >"$T/policy.d/10-defer.conf"
WATCHER="$T/bin/defer-watcher" spawn_ns service defer
sleep 0.3
# A second process in the same namespace, started after the watcher (a higher pid).
nsenter -t "$(pid_of defer)" -m sleep 1000 &
other=$!
NS_PIDS+=("$other")
sleep 0.3
expect "apply v2, deferred" 0 "1 -> 2" osup apply "$T/v2.osup"
recorded=$(jq -r '.pending[0].pid' "$T/run/pending.json")
[ "$recorded" = "$(pid_of defer)" ] && ok "recorded with the watcher's pid" || not_ok "recorded pid $recorded"
kill -TERM "$(pid_of defer)"
for _ in $(seq 50); do kill -0 "$(pid_of defer)" 2>/dev/null || break; sleep 0.1; done
expect "a command that enforces deadlines runs" 0 "" osup gc
[ "$(jq '.pending | length' "$T/run/pending.json")" = 1 ] && [ "$(jq -r '.pending[0].deadline' "$T/run/pending.json")" -gt "$(date +%s)" ] &&
        ok "the record and its deadline survive the recorded process" || not_ok "pending: $(cat "$T/run/pending.json")"
out=$(nsenter -t "$other" -m "$OSUPDATE" release --check --config "$CONF") && rc=0 || rc=$?
[ "$rc" = 0 ] && [ "$(jq -r .version <<<"$out")" = 2 ] && ok "another process of the namespace sees it pending" ||
        not_ok "release --check: $rc $out"
[ "$(nsenter -t "$other" -m cat "$TARGET/version")" = 1 ] && ok "the namespace still runs 1" || not_ok "version changed early"
expect "release --pid of the other process" 0 "Released" osup release --pid "$other"
[ "$(nsenter -t "$other" -m cat "$TARGET/version")" = 2 ] && ok "now on 2" || not_ok "release did not switch"
finish
