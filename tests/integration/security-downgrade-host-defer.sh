#!/bin/bash
# Finding: a downgrade while the host defers. A rule makes the HOST namespace defer (a root-owned
# service, hostsvc-watcher, runs in it), so after v3 the force namespaces show 3 while the host
# still shows 1. apply compared a new bundle with the host's /usr (1), not with the newest
# version live anywhere, so a validly signed v2 passed the "newer than running" check and was
# tucked beneath every force namespace: they went 3 -> 2.
# Safe: apply v2 is refused with exit 21 (ESTALE, not newer); the force namespaces stay on 3, the
# host on 1; state.json, the slots and pending.json are unchanged; no watcher sees a step back.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/attack.sh"

setup_target
make_bundle 2
make_bundle 3
mkdir -p "$T/bin" "$T/policy.d"
cp "$WATCHER" "$T/bin/hostsvc-watcher"
cp "$WATCHER" "$T/bin/force-watcher"
printf '[Match]\nExecutable=*/hostsvc-*\n[Policy]\nMode=defer\n' >"$T/policy.d/10-host.conf"

WATCHER="$T/bin/hostsvc-watcher" spawn_ns host host
WATCHER="$T/bin/force-watcher" spawn_ns service force1
WATCHER="$T/bin/force-watcher" spawn_ns service force2
sleep 0.5

expect "apply v3 (the host defers it)" 0 "-> 3" osup_t 30 apply "$T/v3.osup"
sleep 0.2
expect_versions "after v3" host=1 force1=3 force2=3

before=$(state_snapshot)
expect "apply of the older v2 while the host defers v3 is refused" 21 "not newer" osup_t 30 apply "$T/v2.osup"
sleep 0.2
expect_versions "after the refused v2" host=1 force1=3 force2=3
expect_unchanged "after the refused v2" "$before"

check_watchers host force1 force2
finish
