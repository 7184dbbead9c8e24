#!/bin/bash
# Finding: when no slot can be written, apply ends deferrals anyway. If the inactive slot is busy,
# apply forces every pending deferral forward ("its old image is needed for a newer update") and
# looks again; when the slot is busy for another reason (here a private namespace of the test
# that keeps the inactive slot's image loop-mounted) the apply still fails, but the deferrals are
# gone: a service lost its safe point for nothing.
# Safe: apply v4 fails with exit 26 (ETXTBSY, no slot can be written) and leaves the deferral alone:
# `release --check` in the defer namespace still reports pending, it still shows its version,
# state.json and pending.json are unchanged; no watcher sees an error or a step back.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/attack.sh"

setup_target
for v in 2 3 4; do make_bundle "$v"; done
mkdir -p "$T/bin" "$T/policy.d" "$T/mnt-x"
cp "$WATCHER" "$T/bin/defer-watcher"
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=1h\n' >"$T/policy.d/10-defer.conf"
WATCHER="$T/bin/defer-watcher" spawn_ns service defer
spawn_ns service svc
spawn_ns host host
sleep 0.5

expect "apply v2 (deferred by the defer namespace)" 0 "1 -> 2" osup_t 30 apply "$T/v2.osup"
expect "release the defer namespace" 0 "Released" osup_t 20 release --pid "$(pid_of defer)"
expect "apply v3 (deferred again)" 0 "2 -> 3" osup_t 30 apply "$T/v3.osup"
expect_versions "after v3" host=3 svc=3 defer=2
release_check defer
[ "$RC" = 0 ] && [ "$(jq -r .pending <<<"$OUT")" = true ] && ok "the defer namespace has v3 pending: $OUT" ||
        not_ok "release --check before the attack: exit $RC: $OUT"

# The inactive slot (v2) kept busy by something that is no recorded deferral.
x=$(slot_with 2)
unshare -m --propagation private bash -c "mount -o ro,loop '$STATE/slots/$x/image' '$T/mnt-x' && touch '$T/held' && exec sleep 600" &
holder=$!
NS_PIDS+=($holder)
disown $holder
wait_for "$T/held" 50 && [ "$(loops_under "$STATE/slots/$x")" -ge 1 ] && ok "slot $x is held by a loop mount elsewhere" ||
        not_ok "could not hold slot $x"

before=$(state_snapshot)
expect "apply v4 with no writable slot" 26 "No slot can be written" osup_t 30 apply "$T/v4.osup"
expect_versions "after the refused v4" host=3 svc=3 defer=2
release_check defer
[ "$RC" = 0 ] && [ "$(jq -r .pending <<<"$OUT")" = true ] && ok "the deferral still stands: $OUT" ||
        not_ok "the deferral was ended: release --check exit $RC: $OUT"
expect_unchanged "after the refused v4" "$before"

kill -KILL "$holder" 2>/dev/null || true
check_watchers host svc defer
finish
