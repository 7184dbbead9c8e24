#!/bin/bash
# Finding: `apply --staged` switches to a fetched slot without checking the device's rules again.
# What was acceptable at fetch time may no longer be when it goes live:
#   (a) the version floor was raised past the staged version meanwhile (here: state.json's
#       version_floor edited to 9 while v2 is staged, as a later mark-good --raise-floor would);
#   (b) the bundle's manifest has expired meanwhile (fetched with --expires a few seconds ahead).
# Safe: (a) exit 21 (ESTALE), (b) exit 13 (EKEYEXPIRED); in both the live version stays 1, the
# service namespace too, and state.json, the slots and pending.json are unchanged.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/attack.sh"

setup_target
make_bundle 2
spawn_ns host host
spawn_ns service svc
sleep 0.3

# (a) the floor rose above the staged version
expect "fetch v2" 0 "Fetched and verified 2" osup_t 30 fetch "$T/v2.osup"
jq '.version_floor = "9"' "$STATE/state.json" >"$T/state.tmp" && mv "$T/state.tmp" "$STATE/state.json"
before=$(state_snapshot)
expect "apply --staged of v2 below the version floor 9 is refused" 21 "floor" osup_t 30 apply --staged
expect_versions "after the refused apply --staged (floor)" host=1 svc=1
expect_unchanged "after the refused apply --staged (floor)" "$before"

# (b) the staged manifest expired after the fetch
jq '.version_floor = null' "$STATE/state.json" >"$T/state.tmp" && mv "$T/state.tmp" "$STATE/state.json"
# (b) starts from whatever (a) left live (1 if (a) was refused).
live=$(cat "$TARGET/version")
next=$((live + 2))
expires=$(($(date +%s) + 12)) # room for building and fetching it on a loaded machine
make_bundle "$next" --expires "@$expires"
expect "fetch v$next (expires in a few seconds)" 0 "Fetched and verified $next" osup_t 30 fetch "$T/v$next.osup"
while [ "$(date +%s)" -le $((expires + 1)) ]; do sleep 0.5; done
before=$(state_snapshot)
expect "apply --staged of an expired manifest is refused" 13 "expired" osup_t 30 apply --staged
expect_versions "after the refused apply --staged (expired)" host="$live" svc="$live"
expect_unchanged "after the refused apply --staged (expired)" "$before"

check_watchers host svc
finish
