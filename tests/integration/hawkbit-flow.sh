#!/bin/bash
# How the agent (Backend=hawkbit) takes the server's handling of a deployment, against the DDI
# server of tests/lib/hawkbit.sh (hawkBit's DDI API, release 1.1.0; --strict: every body the agent
# sends has exactly the fields of the DDI model classes, and the strict check itself is shown to bite):
#   download: skip          → nothing fetched, nothing reported, nothing changes;
#   maintenance window unavailable → the bundle is fetched ahead and verified (`downloaded`), not
#                             switched, not fetched twice; the window opens → switched to the fetched
#                             slot without downloading again → healthy → one closed/success;
#   attempt under Strategy=periodic outside every Window= → waits; forced → installs anyway;
#   an action waiting for confirmation: AutoConfirm=no → waits, sends nothing; AutoConfirm=yes →
#                             `confirmed`, then installed in the same poll;
#   cancelled before the switch (fetched ahead, not live) → the cancellation confirmed (closed/
#                             success on cancelAction), nothing switched, no verdict on the action;
#   the version that runs offered → the action closed/success ("up to date"), nothing fetched;
#   mutual TLS ([Network] ClientCertificate=, ClientKey=): without the certificate nothing, with it
#   the deployment (poll, artifact, feedback) goes through;
#   bad [hawkBit] settings (Server=, Tenant=, ControllerID=, tokens, token files, Attributes=,
#   AutoConfirm=, Backend=) → exit 4 naming the line, nothing sent, nothing changed; a token file that
#   is missing, empty, not a token or readable by others → exit 3 naming the file, recorded in agent.json.
. "$(dirname "$0")/../lib/ns.sh"
setup_target
. "$(dirname "$0")/../lib/hawkbit.sh"
printf '[Agent]\nHealthCheck=/bin/true\n' >>"$CONF"
for v in 2 3 4 5; do make_bundle "$v"; done
B=https://127.0.0.1:$DDI_PORT/DEFAULT/controller/v1/$ID
astate() { jq -r "$1" "$T/state/agent.json"; }

# --- the strict check bites: a feedback with a field DdiActionFeedback has not → 400 ----------------
offer 20 2
code=$(curl -s -o "$T/strict.out" -w '%{http_code}' --cacert "$T/ca.pem" -H "Authorization: TargetToken $TOKEN" \
        -H 'Content-Type: application/json' -X POST \
        -d '{"status":{"execution":"proceeding","result":{"finished":"none"},"progress":{"cnt":1}}}' \
        "$B/deploymentBase/20/feedback")
is "--strict: a misplaced field is refused (400)" "$code" 400
grep -q 'status.progress: not a field' "$T/strict.out" && ok "--strict: the field is named" || not_ok "--strict: $(cat "$T/strict.out")"
: >"$T/ddi.log"

# --- download: skip ------------------------------------------------------------------------------------
offer 21 2 '"download": "skip", "update": "skip"'
agent
is "skip: exit 0" "$RC" 0
is "skip: 1 stays live" "$(live)" 1
is "skip: nothing downloaded" "$(downloads os-2.osup)" 0
is "skip: no feedback" "$(feedback 21 | wc -l)" 0
grep -q "download: skip" <<<"$(astate .reason)" && ok "skip: agent.json says why" || not_ok "skip: reason $(astate .reason)"

# --- maintenance window unavailable: fetched ahead, switched when it opens ------------------------------
offer 22 2 '"maintenance_window": "unavailable", "update": null'
agent
is "window unavailable: exit 0" "$RC" 0
is "window unavailable: 1 stays live" "$(live)" 1
is "window unavailable: downloaded once" "$(downloads os-2.osup)" 1
is "window unavailable: reported progress, then downloaded" "$(feedback 22 | jq -r .execution | uniq | paste -sd' ')" "proceeding downloaded"
nfb=$(feedback 22 | wc -l)
staged=$(jq -r '.staged as $s | if $s then .slots[$s].version else "none" end' "$T/state/state.json")
is "window unavailable: 2 is staged in a slot, not next to boot" "$staged $(jq -r .next_boot "$T/state/state.json")" "2 null"
is "window unavailable: no action started" "$(astate '.action.phase // "none"')" none
agent
is "still unavailable: not downloaded again" "$(downloads os-2.osup)" 1
is "still unavailable: 1 stays live" "$(live)" 1
is "still unavailable: no new feedback" "$(feedback 22 | wc -l)" "$nfb"
"$OSUPDATE" status --config "$CONF" >"$T/status.out" 2>&1
grep -q "holds the update" "$T/status.out" && ok "status: says the server holds the update" || not_ok "status: $(cat "$T/status.out")"
grep -q "hawkBit.*action 22" "$T/status.out" && ok "status: names the back-end and the action" || not_ok "status: $(cat "$T/status.out")"
is "status --json: back-end, server, action" \
        "$("$OSUPDATE" status --json --config "$CONF" | jq -r '.agent | "\(.backend) \(.hawkbit.server) \(.hawkbit.controller_id) \(.hawkbit.action_id)"')" \
        "hawkbit https://127.0.0.1:$DDI_PORT $ID 22"
ddi_set '.action.maintenance_window = "available"'
agent
is "window available: exit 0" "$RC" 0
is "window available: 2 is live" "$(live)" 2
is "window available: switched without downloading again" "$(downloads os-2.osup)" 1
is "window available: one closed/success" "$(closed 22)" success
is "window available: the whole feedback" "$(feedback 22 | jq -r .execution | uniq | paste -sd' ')" \
        "proceeding downloaded proceeding closed"
is "window available: history" "$(astate '.history[-1] | "\(.id) \(.result)"')" "hawkbit/22/2 success"

# --- attempt waits for the agent's own Window=; forced does not -----------------------------------------
closed_day=$(date -u -d '+3 days' +%a)
cp "$CONF" "$T/periodic.conf"
printf '[Agent]\nStrategy=periodic\nWindow=%s 12:00 1min\n' "$closed_day" >>"$T/periodic.conf"
offer 23 3 '"download": "attempt", "update": "attempt"'
agent "$T/periodic.conf"
is "attempt, outside the windows: exit 0" "$RC" 0
is "attempt, outside the windows: 2 stays live" "$(live)" 2
is "attempt, outside the windows: nothing downloaded" "$(downloads os-3.osup)" 0
is "attempt, outside the windows: no feedback" "$(feedback 23 | wc -l)" 0
offer 24 3 '"download": "forced", "update": "forced"'
agent "$T/periodic.conf"
is "forced, outside the windows: exit 0" "$RC" 0
is "forced, outside the windows: 3 is live" "$(live)" 3
is "forced: closed/success" "$(closed 24)" success
is "forced: the superseded attempt got no verdict" "$(closed 23)" ""

# --- confirmation --------------------------------------------------------------------------------------
offer 25 4 '"confirm": true'
agent
is "waiting for confirmation, AutoConfirm=no: exit 0" "$RC" 0
is "waiting for confirmation, AutoConfirm=no: 3 stays live" "$(live)" 3
is "waiting for confirmation, AutoConfirm=no: nothing confirmed" \
        "$(jq -r 'select(.path | endswith("/confirmationBase/25/feedback")) | .path' "$T/ddi.log" | wc -l)" 0
grep -q "AutoConfirm=yes" <<<"$(astate .reason)" && ok "AutoConfirm=no: agent.json says what to do" || not_ok "reason: $(astate .reason)"
cp "$CONF" "$T/confirm.conf"
printf '[hawkBit]\nAutoConfirm=yes\n' >>"$T/confirm.conf"
agent "$T/confirm.conf"
is "AutoConfirm=yes: exit 0" "$RC" 0
is "AutoConfirm=yes: confirmed once" \
        "$(jq -r 'select(.path | endswith("/confirmationBase/25/feedback")) | "\(.body.confirmation) \(.status)"' "$T/ddi.log")" "confirmed 200"
is "AutoConfirm=yes: 4 is live in the same poll" "$(live)" 4
is "AutoConfirm=yes: closed/success" "$(closed 25)" success

# --- cancelled before the switch ------------------------------------------------------------------------
offer 26 5 '"maintenance_window": "unavailable", "update": null'
agent
is "cancel: 5 fetched ahead" "$(feedback 26 | jq -r .execution | tail -n1)" downloaded
ddi_set '.action.cancel = true'
agent
is "cancel: exit 0" "$RC" 0
is "cancel: 4 stays live" "$(live)" 4
is "cancel: confirmed as closed/success on cancelAction" "$(cancel_feedback 26 | jq -r '"\(.execution)/\(.finished) \(.status)"')" \
        "closed/success 200"
is "cancel: no verdict on the action itself" "$(closed 26)" ""
is "cancel: the server's action is cancelled" "$(jq -r '.actions["26"].status' "$T/ddi.db")" canceled
agent
is "cancel: nothing more sent afterwards" "$(cancel_feedback 26 | wc -l)" 1

# --- the version that runs, offered: closed/success, nothing fetched ------------------------------------
n=$(downloads os-4.osup)
offer 27 4
agent
is "up to date: exit 0" "$RC" 0
is "up to date: closed/success" "$(closed 27)" success
feedback 27 | jq -r '.details[]' | grep -q "up to date" && ok "up to date: says so" || not_ok "up to date: $(feedback 27)"
is "up to date: nothing downloaded" "$(downloads os-4.osup)" "$n"

# --- mutual TLS through [Network] ClientCertificate=/ClientKey= ----------------------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/client.key" \
        -subj "/CN=$ID" -out "$T/client.csr" 2>/dev/null
openssl x509 -req -in "$T/client.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
        -out "$T/client.pem" 2>/dev/null
chmod 0600 "$T/client.key"
/usr/bin/python3 "$HB_LIB/ddi-server.py" --port 0 --port-file "$T/mtls.port" --strict --cert "$T/server.pem" \
        --key "$T/server.key" --client-ca "$T/ca.pem" --controller "$ID" --target-token "$TOKEN" \
        --state "$T/mtls.json" --log "$T/mtls.log" 2>"$T/mtls.err" &
MTLS_PID=$!
disown $MTLS_PID
on_exit "kill $MTLS_PID 2>/dev/null"
wait_until 10 test -s "$T/mtls.port" || not_ok "the mTLS server did not start: $(cat "$T/mtls.err")"
printf '{"polling_sleep": "00:00:01", "action": {"id": 28, "version": "5", "artifacts": [{"file": "%s", "filename": "os-5.osup"}]}}\n' \
        "$T/v5.osup" >"$T/mtls.json"
sed "s|^Server=.*|Server=https://127.0.0.1:$(cat "$T/mtls.port")|" "$CONF" >"$T/mtls-nocert.conf"
agent "$T/mtls-nocert.conf"
[ "$RC" != 0 ] && ok "mTLS: without a client certificate the poll fails (exit $RC)" || not_ok "mTLS: exit 0 without a certificate"
is "mTLS: 4 stays live" "$(live)" 4
cp "$T/mtls-nocert.conf" "$T/mtls.conf"
printf '[Network]\nClientCertificate=%s\nClientKey=%s\n' "$T/client.pem" "$T/client.key" >>"$T/mtls.conf"
agent "$T/mtls.conf"
is "mTLS: with the certificate: exit 0" "$RC" 0
is "mTLS: 5 is live" "$(live)" 5
is "mTLS: closed/success" "$(jq -r 'select(.path | endswith("/deploymentBase/28/feedback")) | .body.status | select(.execution == "closed") | .result.finished' "$T/mtls.log")" success
# (5 was fetched ahead in the cancel case above: the switch used that slot, no download needed.)
is "mTLS: every request answered" "$(jq -r '.status' "$T/mtls.log" | sort -u | paste -sd' ')" 200

# --- bad [hawkBit] settings: refused before anything is sent or changed -----------------------------------
bad() { # bad NAME REGEX LINES…: the configuration plus LINES is refused (exit ${CODE:-4}), saying REGEX
        local name=$1 regex=$2
        shift 2
        cp "$CONF" "$T/bad.conf"
        printf '%s\n' "$@" >>"$T/bad.conf"
        expect "bad config: $name" "${CODE:-4}" "$regex" "$OSUPDATE" agent --once --config "$T/bad.conf"
}
n=$(wc -l <"$T/ddi.log")
: >"$T/empty-token"
printf 'has a space\n' >"$T/spaced-token"
cp "$T/token" "$T/open-token"
chmod 0600 "$T/empty-token" "$T/spaced-token"
chmod 0644 "$T/open-token"
# A token file is read at every poll (it may be provisioned later): its error is the poll's, recorded,
# exit 3 (an input cannot be read; the daemon backs off and reads it again).
CODE=3 bad "an empty token file" "no usable hawkBit token" "[hawkBit]" "TargetTokenFile=$T/empty-token"
grep -q "no usable hawkBit token" <<<"$(astate .last_error)" && ok "bad token file: agent.json says so" ||
        not_ok "bad token file: last_error $(astate .last_error)"
CODE=3 bad "a token file with a space" "no usable hawkBit token" "[hawkBit]" "TargetTokenFile=$T/spaced-token"
CODE=3 bad "a token file others can read" "readable by others" "[hawkBit]" "TargetTokenFile=$T/open-token"
CODE=3 bad "a missing token file" "Cannot read the hawkBit token" "[hawkBit]" "TargetTokenFile=$T/no-such-token"
before=$(snapshot "$T/state")
bad "Server= not a URL" "bad.conf:[0-9]+" "[hawkBit]" "Server=hawkbit.example.com"
bad "Server= ftp" "bad.conf:[0-9]+" "[hawkBit]" "Server=ftp://127.0.0.1/"
bad "Tenant= with a slash" "bad.conf:[0-9]+" "[hawkBit]" "Tenant=a/b"
bad "ControllerID= with a space" "bad.conf:[0-9]+" "[hawkBit]" "ControllerID=a b"
bad "TargetToken= with a space" "bad.conf:[0-9]+" "[hawkBit]" "TargetToken=a b"
bad "Attributes= without =" "bad.conf:[0-9]+" "[hawkBit]" "Attributes=hwRevision"
bad "AutoConfirm= not a boolean" "bad.conf:[0-9]+" "[hawkBit]" "AutoConfirm=perhaps"
bad "Backend= unknown" "bad.conf:[0-9]+" "[Agent]" "Backend=mender"
grep -v '^Server=' "$CONF" >"$T/noserver.conf"
expect "bad config: Backend=hawkbit without Server=" 4 "needs Server=" "$OSUPDATE" agent --once --config "$T/noserver.conf"
is "bad config: nothing sent to the server" "$(wc -l <"$T/ddi.log")" "$n"
is "bad config: the state directory unchanged by a refused configuration" "$(snapshot "$T/state")" "$before"
is "bad config: 5 stays live" "$(live)" 5

is "every request body had exactly the DDI model's fields (--strict)" "$(ddi_rejected)" ""
finish
