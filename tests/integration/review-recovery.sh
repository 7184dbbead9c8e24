#!/bin/bash
# Findings of the second review, each as an attack with the safe outcome asserted:
#  1. an unprivileged user's own namespace holding the previous slot's image must not block later
#     updates (the slot gets new files; the user keeps the old image);
#  2. a kill right after the deferrals are recorded, then recovery: the deferring namespace keeps
#     its old /usr and its record, the others move forward;
#  3. recovery after a kill never switches a container whose policy is skip;
#  4. a newer update never postpones an existing deferral's deadline.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/attack.sh"

setup_target
for v in 2 3 4 5 6; do make_bundle "$v"; done
mkdir -p "$T/bin" "$T/policy.d"
cp "$WATCHER" "$T/bin/defer-watcher"
cp "$WATCHER" "$T/bin/skip-watcher"
chmod o+rx "$T" "$T/root"

# 4. A deferral from the image the machine booted with; a newer update while it defers keeps the
#    earlier deadline (no slot needs to be freed for it).
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=1h\n' >"$T/policy.d/10-defer.conf"
WATCHER="$T/bin/defer-watcher" spawn_ns service defer
spawn_ns service force
sleep 0.5
expect "apply v2, deferred" 0 "1 -> 2" osup apply "$T/v2.osup"
d1=$(jq -r '.pending[0].deadline' "$T/run/pending.json")
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=2h\n' >"$T/policy.d/10-defer.conf"
sleep 1
expect "apply v3 while it defers" 0 "2 -> 3" osup apply "$T/v3.osup"
d2=$(jq -r '.pending[0].deadline' "$T/run/pending.json")
[ "$d2" = "$d1" ] && [ "$(version_in defer)" = 1 ] && ok "still on 1, the deadline not postponed ($d1)" ||
        not_ok "defer on $(version_in defer), deadline moved from $d1 to $d2"
expect "release" 0 "Released" in_ns defer "$OSUPDATE" release --config "$CONF"

# 1. The user pins slot b (v3, live) in a namespace of their own; v4 goes to slot a, v5 needs b.
if ! "${NOBODY[@]}" unshare -U -r -m true 2>/dev/null; then
        echo "SKIP: user nobody cannot create a user namespace here (kernel.unprivileged_userns_clone or max_user_namespaces)"
        exit 77
fi
"${NOBODY[@]}" unshare -U -r -m sh -c "cd '$TARGET' && exec sleep 1000" &
user_ns=$!
NS_PIDS+=("$user_ns")
sleep 0.5
expect "apply v4 (slot a)" 0 "3 -> 4 in slot a" osup apply "$T/v4.osup"
expect "apply v5 needs slot b, held by the user's namespace and the deferral: written anew" 0 "4 -> 5 in slot b" osup apply "$T/v5.osup"
[ "$(nsenter -t "$user_ns" -m cat "$TARGET/version")" = 3 ] && ok "the user's namespace keeps its own copy of v3" ||
        not_ok "the user's namespace sees $(nsenter -t "$user_ns" -m cat "$TARGET/version" 2>&1)"
kill -KILL "$user_ns" 2>/dev/null || true
expect "release" 0 "Released|Nothing pending" in_ns defer "$OSUPDATE" release --config "$CONF" || true

# 2. Kill right after the deferral is recorded; recovery must honour it.
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=1h\n' >"$T/policy.d/10-defer.conf"
before=$(version_in defer)
OSUPDATE_FAILPOINT=after-record osup apply "$T/v6.osup" >/dev/null 2>&1 && rc=0 || rc=$?
[ "$rc" = 137 ] && ok "killed after the records" || not_ok "after-record: exit $rc"
expect "the next command recovers" 0 "" osup gc
[ "$(version_in defer)" = "$before" ] && [ "$(version_in force)" = 6 ] && [ "$(cat "$TARGET/version")" = 6 ] &&
        ok "recovery: host and force on 6, the deferring namespace still on $before" ||
        not_ok "recovery: host $(cat "$TARGET/version") force $(version_in force) defer $(version_in defer) (was $before)"
out=$(in_ns defer "$OSUPDATE" release --check --config "$CONF") && rc=0 || rc=$?
[ "$rc" = 0 ] && [ "$(jq -r .version <<<"$out")" = 6 ] && ok "its record stands: 6 pending" || not_ok "release --check: $rc $out"
expect "release" 0 "Released" in_ns defer "$OSUPDATE" release --config "$CONF"

# 3. A skipped container and a kill after the tuck: recovery leaves it alone.
rm -f "$T/policy.d/10-defer.conf"
printf '[Match]\nContainer=yes\nExecutable=*/skip-*\n[Policy]\nMode=skip\n' >"$T/policy.d/10-skip.conf"
WATCHER="$T/bin/skip-watcher" spawn_ns container ctr
sleep 0.5
make_bundle 7
OSUPDATE_FAILPOINT=after-tuck osup apply "$T/v7.osup" >/dev/null 2>&1 && rc=0 || rc=$?
[ "$rc" = 137 ] && ok "killed after the tuck" || not_ok "after-tuck: exit $rc"
expect "the next command recovers" 0 "" osup gc
[ "$(version_in ctr)" = 6 ] && [ "$(cat "$TARGET/version")" = 7 ] && ok "the skipped container stays on 6, the host is on 7" ||
        not_ok "host $(cat "$TARGET/version"), skipped container $(version_in ctr)"

stop_watchers defer ctr
for n in defer ctr; do
        if [ "$(report_field "$n" errors)" = 0 ] && [ "$(report_field "$n" backsteps)" = 0 ]; then
                ok "watcher $n: no error, no step back"
        else
                not_ok "watcher $n: $(cat "$T/report.$n")"
        fi
done
finish
