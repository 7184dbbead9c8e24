#!/bin/bash
# The fleet agent on one machine, end to end: a signed channel on nginx, `osupdate agent --once`
# updating the live /usr, the health verdict (success only when healthy: mark-good; a failing check:
# rollback, the check's output recorded, the version never retried), the refusals of a hostile or
# stale channel (unsigned, expired, serial rolled back, same serial other content, a downgrade, a
# bundle whose SHA-256 is not the channel's), rollout percentages, pause, periodic windows,
# --dry-run --json changing nothing, and osupdate status showing the agent's view.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"

setup_target
start_nginx || { not_ok "nginx"; finish; }
H="http://127.0.0.1:$NGINX_HTTP"
CH="$H/stable.json"
cat >>"$CONF" <<CONF
Verity=userspace
[Network]
Retries=0
ConnectTimeout=5s
[Agent]
Channel=$CH
MachineID=machine-0001
HealthCheck=/bin/true
HealthTimeout=10s
CONF
live() { cat "$TARGET/version"; }
ast() { jq -r "$1" "$T/state/agent.json" 2>/dev/null || echo "(no agent.json)"; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi; }
publish() { # publish VERSION: the bundle on nginx
        make_bundle "$1"
        cp "$T/v$1.osup" "$T/www/v$1.osup"
}
# channel SERIAL VERSION [options…]: the signed document at $T/www/stable.json
channel() {
        local s=$1 v=$2
        shift 2
        "$OSUPDATE" channel create --key "$T/k1.pem" --name stable --serial "$s" --version "$v" \
                --bundle "$H/v$v.osup" --bundle-file "$T/v$v.osup" -o "$T/www/stable.json" "$@" >/dev/null
}
agent() { # agent [options]: one poll; RC and OUT set
        RC=0
        OUT=$(timeout -s KILL 120 "$OSUPDATE" agent --once --config "$CONF" "$@" 2>&1) || RC=$?
}
bundle_gets() { requests_for "/v$1.osup" | grep -c ' 20[06] ' || true; }

# --- a release at 100 %: installed live, healthy, marked good -------------------------------------
publish 2
channel 1 2 --percent 100
agent
is "agent --once: exit 0" "$RC" 0
is "v2 is live" "$(live)" 2
is "the action is done: success" "$(ast '.history[-1].result')" success
is "the action's id names channel, serial and version" "$(ast '.history[-1].id')" "stable/1/2"
is "no action in progress" "$(ast '.action.phase // "none"')" none
is "the slot is marked good" "$(jq -r '.slots[.active].good' "$T/state/state.json")" true
is "the accepted serial is recorded" "$(ast .channel.serial)" 1
grep -q "Updated live: 1 -> 2" <<<"$OUT" && ok "the agent says what it did" || not_ok "output: $OUT"
status=$(osup status)
grep -q "^Agent: .*channel stable serial 1" <<<"$status" && grep -q "^Action: .*none" <<<"$status" &&
        grep -q "stable/1/2 .*success" <<<"$status" && ok "osupdate status shows the agent's view" ||
        not_ok "status: $status"
[ "$(osup status --json | jq -r '.agent.channel.serial')" = 1 ] && ok "status --json has the agent" || not_ok "status --json"

# Polling again: up to date, nothing downloaded, nothing reported twice.
n=$(bundle_gets 2)
agent
is "again: exit 0" "$RC" 0
grep -q "up to date" <<<"$OUT" && ok "again: up to date" || not_ok "again: $OUT"
is "again: the bundle is not downloaded again" "$(bundle_gets 2)" "$n"
is "again: one history entry" "$(ast '.history | length')" 1

# --- a failing health check: rolled back, output recorded, never retried ---------------------------
publish 3
channel 2 3 --percent 100
cp "$CONF" "$T/sick.conf"
printf 'HealthCheck=/bin/sh -c "echo the service is broken >&2; exit 3"\n' >>"$T/sick.conf"
RC=0
OUT=$("$OSUPDATE" agent --once --config "$T/sick.conf" 2>&1) || RC=$?
is "unhealthy: exit 45 (rolled back)" "$RC" 45
is "unhealthy: v2 is live again" "$(live)" 2
is "unhealthy: result failure" "$(ast '.history[-1].result')" failure
grep -q "the service is broken" <<<"$(ast '.history[-1].output')" && ok "unhealthy: the check's output is recorded" ||
        not_ok "output: $(ast '.history[-1].output')"
is "unhealthy: 3 is given up" "$(ast '.failed_versions | index("3") != null')" true
n=$(bundle_gets 3)
agent
is "after the failure: exit 0" "$RC" 0
grep -q "failed here before" <<<"$OUT" && ok "after the failure: not retried automatically" || not_ok "after: $OUT"
is "after the failure: no new download" "$(bundle_gets 3)" "$n"
is "after the failure: still 2" "$(live)" 2

# --- refusals: nothing changes ---------------------------------------------------------------------
refused() { # refused NAME CODE REGEX: a poll exits CODE saying REGEX; live, state and serial as before
        local name=$1 code=$2 regex=$3 before serial
        before=$(jq -c '{active, next_boot, slots}' "$T/state/state.json")
        serial=$(ast .channel.serial)
        agent
        if [ "$RC" = "$code" ] && grep -Eq "$regex" <<<"$OUT"; then ok "$name (exit $code)"; else not_ok "$name: exit $RC: $OUT"; fi
        [ "$(jq -c '{active, next_boot, slots}' "$T/state/state.json")" = "$before" ] && [ "$(live)" = 2 ] &&
                [ "$(ast .channel.serial)" = "$serial" ] || not_ok "$name: something changed"
}
publish 4
channel 3 4 --percent 100
jq '.signatures = []' "$T/www/stable.json" >"$T/x" && mv "$T/x" "$T/www/stable.json"
refused "an unsigned channel" 11 "signature|signed"
SOURCE_DATE_EPOCH=1000000 channel 3 4 --percent 100 --expires @2000000
refused "an expired channel" 13 "expired"
channel 1 4 --percent 100
refused "a serial lower than the accepted one (rollback)" 44 "serial"
channel 2 4 --percent 100
refused "the accepted serial with other content" 44 "serial"
"$OSUPDATE" channel create --key "$T/k1.pem" --name stable --serial 9 --version 1 --bundle "$H/v1.osup" \
        --bundle-file "$T/v1.osup" --percent 100 -o "$T/www/stable.json" >/dev/null
refused "a target older than what runs" 21 "older|downgrade"
"$OSUPDATE" channel create --key "$T/k1.pem" --name stable --serial 10 --version 4 --bundle "$H/v4.osup" \
        --bundle-file "$T/v3.osup" --percent 100 -o "$T/www/stable.json" >/dev/null
hist=$(ast '.history | length')
agent
[ "$RC" = 10 ] && grep -qi "sha-256" <<<"$OUT" && ok "a bundle that is not the channel's (SHA-256) fails (exit 10)" ||
        not_ok "digest mismatch: exit $RC: $OUT"
is "digest mismatch: 2 still live" "$(live)" 2
grep -qi "sha-256" <<<"$(ast .last_error)" && ok "digest mismatch: last_error says why" || not_ok "last_error: $(ast .last_error)"
is "digest mismatch: no action left in progress" "$(ast '.action.phase // "none"')" none
agent
is "digest mismatch again: exit 10" "$RC" 10
is "digest mismatch: the retries do not fill the history (verdicts only)" "$(ast '.history | length')" "$hist"
is "digest mismatch: 4 not given up (the next poll may try again)" "$(ast '.failed_versions | index("4") != null')" false

# --- rollout share, pause, dry run -----------------------------------------------------------------
channel 11 4 --percent 0
agent
is "0 %: exit 0" "$RC" 0
is "0 %: nothing installed" "$(live)" 2
grep -q "not yet\|rollout" <<<"$OUT" && ok "0 %: says why" || not_ok "0 %: $OUT"
channel 12 4 --percent 100 --pause
agent
is "paused: still 2" "$(live)" 2
grep -qi "paused" <<<"$OUT" && ok "paused: says so" || not_ok "paused: $OUT"
channel 13 4 --percent 100
before=$(sha256sum <"$T/state/agent.json")
dry=$("$OSUPDATE" agent --dry-run --json --config "$CONF")
[ "$(jq -r .step <<<"$dry")" = install ] && [ "$(jq -r .takes_release <<<"$dry")" = true ] &&
        [ "$(jq -r .channel.serial <<<"$dry")" = 13 ] && jq -e '.bucket >= 0 and .bucket < 100' <<<"$dry" >/dev/null &&
        ok "--dry-run --json: would install, with bucket and rollout" || not_ok "dry run: $dry"
is "--dry-run changes nothing" "$(sha256sum <"$T/state/agent.json")" "$before"
is "--dry-run installs nothing" "$(live)" 2

# --- periodic: outside every window nothing starts; inside, it does --------------------------------
cp "$CONF" "$T/periodic.conf"
now_day=$(date -u +%a)
closed_day=$(date -u -d '+3 days' +%a)
printf 'Strategy=periodic\nWindow=%s 00:00 1min\n' "$closed_day" >>"$T/periodic.conf"
RC=0
OUT=$("$OSUPDATE" agent --once --config "$T/periodic.conf" 2>&1) || RC=$?
is "periodic, no window open: still 2" "$(live)" 2
grep -qi "window" <<<"$OUT" && ok "periodic: says no window is open" || not_ok "periodic: $OUT"
printf 'Window=%s 00:00 24h\n' "$now_day" >>"$T/periodic.conf"
RC=0
OUT=$("$OSUPDATE" agent --once --config "$T/periodic.conf" 2>&1) || RC=$?
is "periodic, inside a window: exit 0" "$RC" 0
is "periodic, inside a window: 4 live" "$(live)" 4

# --- configuration errors ---------------------------------------------------------------------------
printf '[Agent]\nStrategy=sometimes\n' >"$T/bad.conf"
expect "Strategy=sometimes refused" 4 "bad.conf:2" "$OSUPDATE" agent --once --config "$T/bad.conf"
printf '[Agent]\nWindow=Funday 02:00 1h\n' >"$T/bad.conf"
expect "a malformed Window= refused" 4 "bad.conf:2" "$OSUPDATE" agent --once --config "$T/bad.conf"
printf '[Agent]\nTimeZone=Europe/Nowhere\n' >"$T/bad.conf"
expect "an unknown TimeZone= refused (glibc would take it for UTC)" 4 "no such time zone" "$OSUPDATE" agent --once --config "$T/bad.conf"
sed 's/^Channel=.*//' "$CONF" >"$T/nochannel.conf"
expect "no Channel=" 4 "Channel=" "$OSUPDATE" agent --once --config "$T/nochannel.conf"
cp "$CONF" "$T/fl.conf"
printf 'Strategy=fleet-lock\n' >>"$T/fl.conf"
expect "fleet-lock without FleetLock= or Etcd=" 4 "FleetLock= or Etcd=" "$OSUPDATE" agent --once --config "$T/fl.conf"
finish
