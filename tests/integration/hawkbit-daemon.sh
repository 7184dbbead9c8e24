#!/bin/bash
# `osupdate agent` as a daemon with Backend=hawkbit (DDI server of tests/lib/hawkbit.sh: hawkBit's DDI
# API, release 1.1.0, --strict), Interval=8s:
#   the server's config.polling.sleep (1 s) sets the pace, not Interval=;
#   the token refused (401): a clear error in agent.json, the daemon keeps running and backs off —
#   Interval=/8 doubling up to Interval=, each delay jittered into [b/2, b] — no busy loop; the token
#   accepted again: back to the server's pace;
#   the server down (connection refused): the same backoff with jitter; the server back: the daemon
#   takes the deployment it offers (healthy, one closed/success);
#   SIGTERM: exit 0.
. "$(dirname "$0")/../lib/ns.sh"
setup_target
. "$(dirname "$0")/../lib/hawkbit.sh"
printf '[Agent]\nHealthCheck=/bin/true\nInterval=8s\n' >>"$CONF"
make_bundle 2
astate() { jq -r "$1" "$T/state/agent.json" 2>/dev/null || echo "(no agent.json)"; }
base_gets() { jq -r --arg p "/controller/v1/$ID" 'select(.method == "GET" and (.path | endswith($p))) | .status' "$T/ddi.log" | wc -l; }
# The daemon's log from line $1 on: its delays, "DELAY ERRORS" a line (ERRORS 0 after a success).
delays_since() {
        tail -n +"$1" "$T/d.log" | sed -n -e 's/.*backing off, next poll in \([0-9.]*\) s (\([0-9]*\) in a row).*/\1 \2/p' \
                -e 's/.*agent: next poll in \([0-9.]*\) s.*/\1 0/p'
}
has_errors() { delays_since "$1" | awk -v n="$2" '$2 >= n { f = 1 } END { exit !f }'; }
success_after() { delays_since "$1" | awk '$2 == 0 { f = 1 } END { exit !f }'; }
# check_backoff FROM NAME: every backoff delay d after n failures lies in [b/2, b], b = min(8, 2^(n-1)) s
check_backoff() {
        local bad
        bad=$(delays_since "$1" | awk '$2 > 0 { b = 2 ^ ($2 - 1); if (b > 8) b = 8;
                if ($1 < b / 2 - 0.001 || $1 > b + 0.001) print "after " $2 ": " $1 " s not in [" b / 2 ", " b "]" }')
        if [ -z "$bad" ]; then ok "$2: each delay within [b/2, b], b doubling from 1 s"; else not_ok "$2: $bad"; fi
        delays_since "$1" | awk '$2 > 0 { print $2 ": " $1 " s" }' | paste -sd' ' | sed "s/^/# $2: /"
}

"$OSUPDATE" agent --config "$CONF" >"$T/d.log" 2>&1 &
DPID=$!
on_exit 'kill -KILL $DPID 2>/dev/null; true'
alive() { kill -0 "$DPID" 2>/dev/null; }

# --- the server's pace ---------------------------------------------------------------------------------
sleep 4.5
n=$(base_gets)
[ "$n" -ge 3 ] && [ "$n" -le 7 ] && ok "polling.sleep 1 s: $n polls in 4.5 s (Interval=8s would give 1)" ||
        not_ok "polling.sleep: $n polls in 4.5 s: $(cat "$T/d.log")"
bad=$(delays_since 1 | awk '$2 == 0 && ($1 < 0.9 || $1 > 1.1)')
[ -z "$bad" ] && delays_since 1 | grep -q . && ok "the delays follow the server's 1 s ± 10 %" || not_ok "delays: $(delays_since 1)"
grep -q "the server's polling interval" "$T/d.log" && ok "the log says whose interval it is" || not_ok "log: $(cat "$T/d.log")"

# --- 401: a clear error, backoff with jitter -----------------------------------------------------------
from=$(($(wc -l <"$T/d.log") + 1))
requests_before=$(wc -l <"$T/ddi.log")
ddi_set '.token_valid = false'
wait_until 25 has_errors "$from" 4 || not_ok "401: fewer than 4 failures: $(tail -n +"$from" "$T/d.log")"
alive && ok "401: the daemon keeps running" || not_ok "401: the daemon died: $(cat "$T/d.log")"
grep -q "token was refused" <<<"$(astate .last_error)" && ok "401: agent.json says the token was refused" ||
        not_ok "401: last_error $(astate .last_error)"
check_backoff "$from" "401"
n401=$(tail -n +"$((requests_before + 1))" "$T/ddi.log" | jq -r 'select(.status == 401) | .path' | wc -l)
[ "$n401" -le 6 ] && ok "401: no busy loop ($n401 refused requests for 4-5 attempts)" || not_ok "401: $n401 requests"
from2=$(($(wc -l <"$T/d.log") + 1))
ddi_set '.token_valid = true'
wait_until 20 success_after "$from2" && ok "token accepted again: back to polling" || not_ok "after 401: $(tail -n +"$from2" "$T/d.log")"
wait_until 5 eval '[ "$(astate .errors)" = 0 ]' && ok "token accepted again: errors reset" || not_ok "errors: $(astate .errors)"

# --- the server down: backoff with jitter, then back ----------------------------------------------------
from3=$(($(wc -l <"$T/d.log") + 1))
ddi_stop
wait_until 25 has_errors "$from3" 3 || not_ok "server down: fewer than 3 failures: $(tail -n +"$from3" "$T/d.log")"
alive && ok "server down: the daemon keeps running" || not_ok "server down: the daemon died"
check_backoff "$from3" "server down"
# Jitter: the delays are not the same fraction of their bound (machines cut off together spread out).
fracs=$( (delays_since "$from"; delays_since "$from3") | awk '$2 > 0 { b = 2 ^ ($2 - 1); if (b > 8) b = 8; printf "%.2f\n", $1 / b }' | sort -u | wc -l)
[ "$fracs" -ge 3 ] && ok "jitter: $fracs distinct fractions of the bound over 7 delays" || not_ok "jitter: $fracs distinct fractions"
offer 40 2
ddi_start
wait_until 40 eval '[ "$(closed 40)" = success ]' && ok "server back: the daemon took the deployment, closed/success" ||
        not_ok "server back: $(feedback 40) $(tail -n 20 "$T/d.log")"
is "server back: 2 is live" "$(live)" 2

# --- SIGTERM ---------------------------------------------------------------------------------------------
kill -TERM "$DPID"
DRC=0
wait "$DPID" || DRC=$?
is "SIGTERM: exit 0" "$DRC" 0
is "every request body had exactly the DDI model's fields (--strict)" "$(ddi_rejected)" ""
finish
