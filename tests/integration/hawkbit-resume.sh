#!/bin/bash
# Crashes (kill -9) in the middle of a hawkBit deployment: the next poll resumes the same action id,
# reports nothing twice and nothing early (DDI server of tests/lib/hawkbit.sh: hawkBit's DDI API,
# release 1.1.0, --strict):
#   killed mid-download, then the operator cancels → the cancellation is confirmed (nothing was
#   switched), the action ends "canceled", no verdict on it;
#   killed in the health check (switched live), then the operator cancels → "too late" (rejected on
#   cancelAction), the same action goes on: one closed/success, its start reported once;
#   killed after the server recorded the closed feedback but before the agent recorded that it sent
#   it → the resend is answered 410, the action is archived once, the server holds one verdict.
. "$(dirname "$0")/../lib/ns.sh"
setup_target
. "$(dirname "$0")/../lib/hawkbit.sh"
printf '[Agent]\nHealthCheck=/bin/true\n' >>"$CONF"
for v in 2 3 4; do make_bundle "$v"; done
astate() { jq -r "$1" "$T/state/agent.json"; }
db() { jq -r "$1" "$T/ddi.db"; }
starts() { feedback "$1" | jq -r '.details[]' | grep -c "^osupdate: updating" || true; }
# agent_bg [CONF]: a poll in the background, its pid in AGENT_PID
agent_bg() {
        "$OSUPDATE" agent --once --config "${1:-$CONF}" >"$T/agent-bg.out" 2>&1 &
        AGENT_PID=$!
}
kill9() { kill -KILL "$AGENT_PID" 2>/dev/null || true; wait "$AGENT_PID" 2>/dev/null || true; }
on_exit 'kill -KILL $AGENT_PID 2>/dev/null; pkill -KILL -f "$T/slow-check" 2>/dev/null; true'

# --- killed mid-download, then cancelled: confirmed, nothing switched ---------------------------------
size=$(stat -c %s "$T/v2.osup")
offer 30 2
ddi_set ".action.artifacts[0].rate = $((size / 6 + 1))" # about 6 s for the download
agent_bg
phase_is() { [ "$(astate '.action.phase')" = "$1" ]; }
wait_until 30 phase_is installing || not_ok "mid-download: the action never reached phase installing"
sleep 1.5
kill9
is "mid-download: killed in phase installing" "$(astate '.action.phase') $(astate .action.id)" "installing hawkbit/30/2"
is "mid-download: 1 stays live" "$(live)" 1
is "mid-download: no verdict sent" "$(closed 30)" ""
ddi_set '.action.cancel = true | del(.action.artifacts[0].rate)'
agent
is "cancel after the crash: exit 0" "$RC" 0
is "cancel after the crash: confirmed on cancelAction" "$(cancel_feedback 30 | jq -r '"\(.execution)/\(.finished) \(.status)"')" \
        "closed/success 200"
is "cancel after the crash: the action ends canceled" "$(astate '.history[-1] | "\(.id) \(.result)"')" "hawkbit/30/2 canceled"
is "cancel after the crash: no action left" "$(astate '.action.phase // "none"')" none
is "cancel after the crash: 1 stays live" "$(live)" 1
is "cancel after the crash: no verdict on the action" "$(closed 30)" ""
is "cancel after the crash: the server's action is cancelled" "$(db '.actions["30"].status')" canceled
is "cancel after the crash: the start was reported once" "$(starts 30)" 1
is "cancel after the crash: 2 is not given up (it did not fail)" "$(astate '.failed_versions // [] | index("2")')" null

# --- killed in the health check, then cancelled: too late, the same action goes on ---------------------
cat >"$T/slow-check" <<EOF
#!/bin/sh
touch "$T/check-started"
exec sleep 60
EOF
chmod +x "$T/slow-check"
cp "$CONF" "$T/slow.conf"
printf '[Agent]\nHealthCheck=%s\nHealthTimeout=90s\n' "$T/slow-check" >>"$T/slow.conf"
offer 31 2
rm -f "$T/check-started"
agent_bg "$T/slow.conf"
wait_until 60 test -e "$T/check-started" || not_ok "the health check never started: $(cat "$T/agent-bg.out")"
kill9
pkill -KILL -f "$T/slow-check" 2>/dev/null || true
is "in the check: killed in phase checking" "$(astate '.action.phase') $(astate .action.id)" "checking hawkbit/31/2"
is "in the check: 2 is live" "$(live)" 2
is "in the check: no verdict sent" "$(closed 31)" ""
ddi_set '.action.cancel = true'
agent
is "too late: exit 0" "$RC" 0
is "too late: rejected on cancelAction" "$(cancel_feedback 31 | jq -r '"\(.execution) \(.status)"')" "rejected 200"
cancel_feedback 31 | jq -r '.details[]' | grep -q "too late" && ok "too late: says why" || not_ok "too late: $(cancel_feedback 31)"
is "too late: the same action resumed and closed once, success" "$(closed 31)" success
is "too late: its start was reported once" "$(starts 31)" 1
is "too late: history" "$(astate '[.history[] | select(.id == "hawkbit/31/2") | .result] | join(",")')" success
is "too late: the server's action is finished" "$(db '.actions["31"].status')" finished
is "too late: 2 stays live" "$(live)" 2

# --- killed between the closed feedback (recorded by the server) and agent.json --------------------------
offer 32 3
ddi_set '.delay = {"path": "/deploymentBase/32/feedback$", "match": "\"closed\"", "seconds": 20, "count": 1}'
agent_bg
finished() { [ "$(db '.actions["32"].status')" = finished ]; }
wait_until 60 finished || not_ok "the server never got the closed feedback: $(cat "$T/agent-bg.out")"
kill9
is "after closed: agent.json still holds the action" "$(astate .action.id) $(astate '.action.phase')" "hawkbit/32/3 releasing"
ddi_set 'del(.delay)'
agent
is "resent: exit 0" "$RC" 0
is "resent: answered 410" "$(feedback 32 | jq -r 'select(.execution == "closed" and .status == 410) | .status')" 410
is "resent: the server holds one verdict" "$(db '[.actions["32"].feedback[] | select(.status.execution == "closed")] | length')" 1
is "resent: archived once, success" "$(astate '[.history[] | select(.id == "hawkbit/32/3") | .result] | join(",")')" success
is "resent: no action left" "$(astate '.action.phase // "none"')" none
is "resent: 3 is live" "$(live)" 3
n=$(db '.actions["32"].feedback | length')
agent
is "polling again: nothing more sent about 32" "$(db '.actions["32"].feedback | length')" "$n"

is "every request body had exactly the DDI model's fields (--strict)" "$(ddi_rejected)" ""
finish
