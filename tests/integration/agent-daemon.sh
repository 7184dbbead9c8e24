#!/bin/bash
# `osupdate agent` as the daemon systemd runs (Type=notify, WatchdogSec=): READY=1, WATCHDOG=1 again
# and again, STATUS= lines; a new channel serial taken within seconds (live, healthy, success); a
# channel answering 404 keeps it running, records the error and backs off (Interval=/8 doubling up
# to Interval=, each delay jittered into [b/2, b]); SIGTERM → exit 0 and STOPPING=1. Killed (-9) in the middle of a health check: the
# action stays "checking" in agent.json and the next daemon finishes it (the check runs again, one
# success in the history, never two). A --once while the daemon is in a poll exits 20, reporting
# nothing twice. A configuration error (no Channel=) stops it with exit 4.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"

command -v python3 >/dev/null || { echo "SKIP: python3 is not installed (the notify socket listener)"; exit 77; }

setup_target
start_nginx || { not_ok "nginx"; finish; }
H="http://127.0.0.1:$NGINX_HTTP"
cat >>"$CONF" <<CONF
Verity=userspace
[Network]
Retries=0
ConnectTimeout=5s
[Agent]
Channel=$H/stable.json
MachineID=machine-daemon-1
HealthTimeout=20s
CONF
cp "$CONF" "$T/base.conf"
printf 'Interval=1s\nHealthCheck=/bin/true\n' >>"$CONF"
# The slow check: counts its runs, then takes 4 s.
SLOW=$T/slow.conf
cp "$T/base.conf" "$SLOW"
printf 'Interval=1s\nHealthCheck=/bin/sh -c "echo run >>%s/hc.runs; sleep 4"\n' "$T" >>"$SLOW"
: >"$T/hc.runs"

live() { cat "$TARGET/version"; }
ast() { jq -r "$1" "$T/state/agent.json" 2>/dev/null || echo "(no agent.json)"; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi; }
# channel SERIAL VERSION: the signed document at $T/www/stable.json, the whole fleet at once.
channel() {
        "$OSUPDATE" channel create --key "$T/k1.pem" --name stable --serial "$1" --version "$2" \
                --bundle "$H/v$2.osup" --bundle-file "$T/v$2.osup" --percent 100 -o "$T/www/stable.json.new" >/dev/null
        mv "$T/www/stable.json.new" "$T/www/stable.json"
}
notes() { grep -c -x "$1" "$T/notify.log" || true; }
has_note() { [ "$(notes "$1")" -ge "${2:-1}" ]; }
alive() { kill -0 "$DPID" 2>/dev/null; }
runs() { wc -l <"$T/hc.runs"; }
runs_reach() { [ "$(runs)" -ge "$1" ]; }
last_is() { [ "$(ast '.history[-1].id + " " + .history[-1].result')" = "$1" ]; }

# The notify socket: every datagram's lines into notify.log, as systemd would receive them.
cat >"$T/notify.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    f.write(b"LISTENING\n")
    while True:
        d = s.recv(65536)
        f.write(d.rstrip(b"\n") + b"\n")
PY
python3 "$T/notify.py" "$T/notify.sock" "$T/notify.log" &
NS_PIDS+=($!)
disown $!
wait_until 10 grep -q LISTENING "$T/notify.log" || { not_ok "the notify listener did not start"; finish; }

# start_daemon CONF NAME: the agent as systemd starts it: NOTIFY_SOCKET, WATCHDOG_USEC and
# WATCHDOG_PID its own pid (the shell execs it); its output in $T/NAME.log, its exit code in
# $T/NAME.rc once it ends. DPID is its pid.
start_daemon() {
        (
                NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=2000000 \
                        bash -c 'export WATCHDOG_PID=$$; exec "$0" agent --config "$1"' "$OSUPDATE" "$1" >>"$T/$2.log" 2>&1 &
                echo $! >"$T/$2.pid"
                rc=0
                wait $! || rc=$?
                echo "$rc" >"$T/$2.rc"
        ) 2>/dev/null &
        disown $!
        wait_until 10 test -s "$T/$2.pid" || { not_ok "the daemon did not start"; finish; }
        DPID=$(cat "$T/$2.pid")
        NS_PIDS+=("$DPID")
}
# stop_daemon NAME: SIGTERM; DRC is its exit code.
stop_daemon() {
        kill -TERM "$DPID"
        DRC=none
        if wait_until 20 test -s "$T/$1.rc"; then DRC=$(cat "$T/$1.rc"); fi
}

publish() { make_bundle "$1"; cp "$T/v$1.osup" "$T/www/v$1.osup"; }
cp "$T/v1.osup" "$T/www/v1.osup"
publish 2
publish 3
channel 1 1

# --- 1. Started as a Type=notify service -----------------------------------------------------------
start_daemon "$CONF" d1
wait_until 10 has_note READY=1 && ok "READY=1 arrives on NOTIFY_SOCKET" || not_ok "no READY=1: $(cat "$T/notify.log")"
wait_until 10 has_note WATCHDOG=1 4 && ok "WATCHDOG=1 arrives again and again ($(notes WATCHDOG=1) so far)" ||
        not_ok "WATCHDOG=1 $(notes WATCHDOG=1) times: $(cat "$T/d1.log")"
grep -q "^STATUS=Polling $H/stable.json every 1 s" "$T/notify.log" && grep -q "^STATUS=Next poll in" "$T/notify.log" &&
        ok "STATUS= lines: what it polls, when next" || not_ok "STATUS lines: $(grep STATUS "$T/notify.log")"
is "up to date: v1 still live" "$(live)" 1
wait_until 10 eval '[ "$(ast .channel.serial)" = 1 ]' && ok "the daemon polled and accepted serial 1" ||
        not_ok "serial 1 not accepted: $(cat "$T/d1.log")"

# A new serial naming v2: within a few seconds v2 is live, healthy, marked good.
channel 2 2
wait_until 20 last_is "stable/2/2 success" && ok "channel serial 2 (v2): the daemon reports success" ||
        not_ok "no success for v2: $(ast .) $(cat "$T/d1.log")"
is "v2 is live" "$(live)" 2
is "v2's slot is marked good" "$(jq -r '.slots[.active].good' "$T/state/state.json")" true
is "no action left" "$(ast '.action.phase // "none"')" none

# The channel answers 404: the daemon keeps running, records the error, counts the errors up.
mv "$T/www/stable.json" "$T/stable.json.away"
wait_until 15 eval '[ "$(ast .errors)" -ge 3 ]' && ok "404: errors count up in agent.json ($(ast .errors))" ||
        not_ok "404: errors $(ast .errors): $(cat "$T/d1.log")"
grep -q "404" <<<"$(ast .last_error)" && ok "404: last_error says so: $(ast .last_error)" || not_ok "404: last_error $(ast .last_error)"
alive && ok "404: the daemon keeps running" || not_ok "404: the daemon died: $(cat "$T/d1.log")"
grep -q "^STATUS=Poll failed" "$T/notify.log" && ok "404: STATUS= says the poll failed" || not_ok "404: no STATUS=Poll failed"
is "404: v2 still live" "$(live)" 2
mv "$T/stable.json.away" "$T/www/stable.json"
wait_until 10 eval '[ "$(ast .errors)" = 0 ]' && [ -z "$(ast '.last_error // empty')" ] &&
        ok "the channel back: errors reset, no last_error" || not_ok "errors $(ast .errors), last_error $(ast .last_error)"

# SIGTERM: exit 0, STOPPING=1.
stop_daemon d1
is "SIGTERM: exit 0" "$DRC" 0
has_note STOPPING=1 && ok "SIGTERM: STOPPING=1" || not_ok "no STOPPING=1"

# --- 2. Killed in the middle of a health check; the next daemon finishes it --------------------------
start_daemon "$SLOW" d2
channel 3 3
wait_until 20 runs_reach 1 || not_ok "the health check did not start: $(cat "$T/d2.log")"
sleep 0.5
kill -KILL "$DPID"
wait_until 5 test -s "$T/d2.rc" || not_ok "kill -9 did not end the daemon"
is "killed mid-check: v3 is live" "$(live)" 3
is "killed mid-check: phase checking in agent.json" "$(ast .action.phase)" checking
is "killed mid-check: nothing reported for v3" "$(ast '[.history[] | select(.version == "3")] | length')" 0
# A new daemon: resumes the check (it runs again) — and while it runs, a --once is turned away.
start_daemon "$SLOW" d3
wait_until 20 runs_reach 2 && ok "the next daemon runs the check again" || not_ok "the check did not run again: $(cat "$T/d3.log")"
RC=0
OUT=$(timeout -s KILL 60 "$OSUPDATE" agent --once --config "$SLOW" 2>&1) || RC=$?
is "a --once during the daemon's poll: exit 20" "$RC" 20
grep -q "Another agent run is in progress" <<<"$OUT" && ok "… saying another agent run is in progress" || not_ok "--once: $OUT"
wait_until 20 last_is "stable/3/3 success" && ok "the resumed action ends in success" || not_ok "no success for v3: $(ast .)"
sleep 2.5 # two more polls: nothing reported twice, the check not run again
is "v3: exactly one history entry" "$(ast '[.history[] | select(.version == "3")] | length')" 1
is "v3: exactly one success in all" "$(ast '[.history[] | select(.result == "success")] | length')" 2
is "the check ran twice (killed run, resumed run), not again" "$(runs)" 2
is "v3 still live" "$(live)" 3
is "v3's slot is marked good" "$(jq -r '.slots[.active].good' "$T/state/state.json")" true
grep -q "Updated live" "$T/d3.log" && not_ok "the resumed daemon installed again: $(cat "$T/d3.log")" ||
        ok "the resumed daemon did not install again"
stop_daemon d3
is "the next daemon: SIGTERM, exit 0" "$DRC" 0

# --- 3. Backoff: Interval=4s against a 404 ----------------------------------------------------------
# The polls after failures come b = 1 s, 2 s, 4 s apart (Interval=/8 clamped to 1 s, doubling up to
# Interval=), each jittered into [b/2, b] (agent_next_poll_usec()), plus the time a failing poll
# takes. The requests are timed as nginx logs them, by a follower of its access log.
BACK=$T/back.conf
cp "$T/base.conf" "$BACK"
printf 'Interval=4s\nHealthCheck=/bin/true\n' >>"$BACK"
rm "$T/www/stable.json"
cat >"$T/follow.py" <<'PY'
import sys, time
with open(sys.argv[1]) as f, open(sys.argv[2], "a", buffering=1) as out:
    f.seek(0, 2)
    out.write("FOLLOWING\n")
    buf = ""
    while True:
        chunk = f.read()
        if not chunk:
            time.sleep(0.01)
            continue
        buf += chunk
        *lines, buf = buf.split("\n")
        for l in lines:
            if l.startswith("/stable.json 404 "):
                out.write("%d\n" % int(time.monotonic() * 1000))
PY
python3 "$T/follow.py" "$N/access.log" "$T/req.times" &
NS_PIDS+=($!)
disown $!
wait_until 10 grep -q FOLLOWING "$T/req.times" || not_ok "the access log follower did not start"
start_daemon "$BACK" d4
wait_until 30 eval '[ "$(grep -c "^[0-9]" "$T/req.times")" -ge 4 ]' || true
mapfile -t times < <(grep "^[0-9]" "$T/req.times")
echo "# 404 requests at ms: ${times[*]}"
if [ "${#times[@]}" -ge 4 ]; then
        g1=$((times[1] - times[0])) g2=$((times[2] - times[1])) g3=$((times[3] - times[2]))
        # After n failures the delay is jittered into [b/2, b], b = 1, 2, 4 s (plus a little scheduling).
        [ "$g1" -ge 450 ] && [ "$g1" -le 1400 ] && [ "$g2" -ge 950 ] && [ "$g2" -le 2400 ] &&
                [ "$g3" -ge 1950 ] && [ "$g3" -le 4500 ] &&
                ok "backoff: polls after errors ${g1} ms, ${g2} ms, ${g3} ms apart (within [0.5, 1], [1, 2], [2, 4] s)" ||
                not_ok "backoff gaps ${g1} ${g2} ${g3} ms: ${times[*]}"
else
        not_ok "backoff: only ${#times[@]} failing requests in 30 s: ${times[*]}; $(cat "$T/d4.log")"
fi
alive && ok "backoff: still running" || not_ok "backoff: the daemon died"
stop_daemon d4
is "backoff daemon: SIGTERM, exit 0" "$DRC" 0

# --- 4. A configuration error stops the daemon (exit 4): polling again cannot mend it ---------------
grep -v '^Channel=' "$CONF" >"$T/nochannel.conf"
start_daemon "$T/nochannel.conf" d5
wait_until 20 test -s "$T/d5.rc" && is "no Channel=: the daemon exits 4" "$(cat "$T/d5.rc")" 4 ||
        { not_ok "no Channel=: the daemon still runs: $(cat "$T/d5.log")"; kill -KILL "$DPID"; }
grep -q "Channel=" "$T/d5.log" && ok "no Channel=: it says what is missing" || not_ok "no Channel=: $(cat "$T/d5.log")"
finish
