#!/bin/bash
# Review of issue 12 (the hawkBit back-end) as an attacker: a hostile DDI server, kill -9 at awkward
# moments, an unprivileged local user after the token. The DDI server is tests/lib/ddi-server.py
# (written from Eclipse hawkBit's Direct Device Integration API, release 1.1.0, tag 1.1.0, commit
# dd342705d46e07e8eb986a79808c7c67eeca9321: DdiRootControllerRestApi.java, Ddi*.java; see
# docs/hawkbit.md), over HTTPS with a target token, scripted through its "raw", "link_base", "delay"
# and "http_error" state keys. Checks marked FINDING reproduce what this review found (F1-F8 in
# docs/notes.md); they failed before the fixes and pass since.
#   hostile answers: huge, endless, deeply nested, trickled (slow-loris) base answers end the poll
#     with an error, bounded in time, nothing changed;
#   links: a _links href over plain http while Server= is https, to another origin, file://, ftp://;
#     an artifact on another origin; an artifact URL carrying credentials;
#   odd deployments: action id 0 / negative; version "../x", 200 characters, empty; a deployment
#     whose version is not the bundle's;
#   feedback answered 500 for the verdict: resent on the next poll, one verdict on the server;
#   a confirmationBase that never stops asking;
#   kill -9 between DOWNLOAD and SWITCH (resumes: one download, one verdict); kill -9 between
#     DOWNLOAD and SWITCH, then the server withdraws the action; kill -9 while the cancellation is
#     being confirmed;
#   the token: file readable by others, a symlink, never in output (debug too), agent.json, the
#     state directory, status, the health check's environment or arguments.
. "$(dirname "$0")/../lib/ns.sh"
setup_target
. "$(dirname "$0")/../lib/hawkbit.sh"
chmod 0600 "$T/token"

# The health check records its environment and the command lines of its ancestors (token hunting),
# and how many closed feedbacks the server had got when it ran (nothing early).
cat >"$T/check.sh" <<EOF
#!/bin/sh
grep -c '"execution":"closed"' "$T/ddi.log" >>"$T/closed-at-check" || true
env >>"$T/check-env"
p=\$\$
while [ "\$p" -gt 1 ]; do
        tr '\0' ' ' <"/proc/\$p/cmdline" >>"$T/check-env"; echo >>"$T/check-env"
        p=\$(awk '/^PPid:/ {print \$2}' "/proc/\$p/status")
done
exit 0
EOF
chmod +x "$T/check.sh"
printf '[Agent]\nHealthCheck=%s\n' "$T/check.sh" >>"$CONF"
for v in 2 3 3.1 4 5 6 7 8 9 10 11; do make_bundle "$v"; done

# Every agent run with debug logging; all output kept (token hunting).
agent() {
        local t0
        t0=$(date +%s%N)
        RC=0
        OUT=$(OSUPDATE_DEBUG=1 timeout -s KILL 120 "$OSUPDATE" agent --once --config "${1:-$CONF}" 2>&1) || RC=$?
        SECS=$((($(date +%s%N) - t0) / 1000000000))
        printf '%s\n' "$OUT" >>"$T/all.out"
}
astate() { jq -r "$1" "$T/state/agent.json"; }
db() { jq -r "$1" "$T/ddi.db"; }
agent_bg() {
        OSUPDATE_DEBUG=1 "$OSUPDATE" agent --once --config "$CONF" >>"$T/all.out" 2>&1 &
        AGENT_PID=$!
}
AGENT_PID=
kill9() { kill -KILL "$AGENT_PID" 2>/dev/null || true; wait "$AGENT_PID" 2>/dev/null || true; }
wait_for() {
        local n=$(($1 * 10))
        shift
        while ! "$@" 2>/dev/null; do
                n=$((n - 1))
                [ "$n" -gt 0 ] || return 1
                sleep 0.1
        done
}
# extra_server NAME [options]: another ddi-server.py on the same state (its own db and log); port in $PORT
EXTRA_PIDS=()
extra_server() {
        local name=$1
        shift
        rm -f "$T/$name.port"
        /usr/bin/python3 "$HB_LIB/ddi-server.py" --port 0 --port-file "$T/$name.port" --tenant DEFAULT --controller "$ID" \
                --state "${XSTATE:-$T/ddi.json}" --db "$T/$name.db" --log "$T/$name.log" "$@" 2>>"$T/ddi.err" &
        EXTRA_PIDS+=($!)
        disown $!
        wait_for 10 test -s "$T/$name.port" || { not_ok "the $name server did not start"; finish; }
        PORT=$(cat "$T/$name.port")
}
SLOW_PID=
on_exit 'kill -KILL $AGENT_PID $SLOW_PID ${EXTRA_PIDS[@]+"${EXTRA_PIDS[@]}"} 2>/dev/null; true'
# auth_sent LOG: requests that carried the target token (credentials of the URL itself are the URL's)
auth_sent() { jq -r --arg t "$TOKEN" 'select(.headers.Authorization != null and (.headers.Authorization | contains($t))) | .path' "$1" | wc -l; }
dl_path() { echo "/DEFAULT/controller/v1/$ID/softwaremodules/$((100 + $1))/artifacts/os-$2.osup"; }

# --- hostile answers on the base: bounded, an error, nothing changed ----------------------------------
# A slow-loris server (2 bytes/s, endless) polled by a second agent of its own (state directory of
# its own, nothing offered), in the background while the rest runs: every request is bounded (30 s).
echo '{"raw": {"path": "/controller/v1/'"$ID"'$", "body": "{\"a\":[", "endless": true, "rate": 2}}' >"$T/slow.json"
XSTATE="$T/slow.json" extra_server slow --cert "$T/server.pem" --key "$T/server.key" --target-token "$TOKEN"
sed -e "s|^Server=.*|Server=https://127.0.0.1:$PORT|" -e "s|^StateDirectory=.*|StateDirectory=$T/state-slow|" \
        -e "s|^RuntimeDirectory=.*|RuntimeDirectory=$T/run-slow|" "$CONF" >"$T/slow.conf"
slow_t0=$(date +%s)
(
        rc=0
        OSUPDATE_DEBUG=1 timeout -s KILL 100 "$OSUPDATE" agent --once --config "$T/slow.conf" >"$T/slow.out" 2>&1 || rc=$?
        echo "$rc $(date +%s)" >"$T/slow.end"
) &
SLOW_PID=$!
before=$(snapshot "$T/state/state.json" || true)
BASE="/controller/v1/$ID\$"
hostile() { # NAME RAW-JSON MAX-SECONDS
        ddi_set ".raw = $2"
        agent
        [ "$RC" != 0 ] && [ "$RC" -lt 128 ] && ok "$1: an error, exit $RC" || not_ok "$1: exit $RC: ${OUT:0:300}"
        [ "$SECS" -le "$3" ] && ok "$1: over in $SECS s" || not_ok "$1: took $SECS s (bound: $3 s)"
        is "$1: 1 stays live" "$(live)" 1
}
hostile "huge base answer (4 MiB)" '{"path": "'"$BASE"'", "body": "A", "repeat": 4194304}' 10
hostile "endless base answer" '{"path": "'"$BASE"'", "body": "[1,", "repeat": 20000, "endless": true}' 10
hostile "deeply nested base answer" '{"path": "'"$BASE"'", "body": "[", "repeat": 900000}' 10
ddi_set 'del(.raw)'
is "hostile answers: state.json unchanged" "$(snapshot "$T/state/state.json" || true)" "$before"

# --- links elsewhere ------------------------------------------------------------------------------------
extra_server plain --target-token "$TOKEN"                        # plain http, another port
PLAIN=$PORT
extra_server other --cert "$T/server.pem" --key "$T/server.key"   # https, another origin, no token needed
OTHER=$PORT
offer 20 2
ddi_set ".link_base = \"http://127.0.0.1:$PLAIN\""
agent
is "http link while Server= is https: 1 stays live" "$(live)" 1
is "FINDING http link: the token never went out in clear" "$(auth_sent "$T/plain.log")" 0
offer 21 2
ddi_set ".link_base = \"https://127.0.0.1:$OTHER\""
agent
is "FINDING a link to another origin: the token is not sent there" "$(auth_sent "$T/other.log")" 0
id=22
for scheme in "file://" "ftp://127.0.0.1:1"; do
        offer $id 3
        ddi_set ".link_base = \"$scheme\""
        cur=$(live)
        agent
        [ "$RC" != 0 ] && [ "$RC" -lt 128 ] && ok "$scheme link: refused (exit $RC)" || not_ok "$scheme link: exit $RC: ${OUT:0:300}"
        is "$scheme link: $cur stays live" "$(live)" "$cur"
        id=$((id + 1))
done
ddi_set 'del(.link_base)'
: >"$T/other.log"
# An artifact on another origin, its URL carrying credentials.
offer 24 3
ddi_set ".action.artifacts[0].url = \"https://osupuser:s3cr3tpw@127.0.0.1:$OTHER$(dl_path 24 3)\""
agent
is "artifact elsewhere: installed (exit $RC)" "$(live)" 3
is "artifact elsewhere: one closed/success" "$(closed 24)" success
is "FINDING artifact on another origin: the token is not sent there" "$(auth_sent "$T/other.log")" 0
grep -q s3cr3tpw <<<"$OUT" && not_ok "FINDING the artifact URL's password is in the output: $(grep s3cr3tpw <<<"$OUT" | head -n2)" ||
        ok "the artifact URL's password is not in the output"
grep -rlq s3cr3tpw "$T/state" && not_ok "the artifact URL's password is in $(grep -rl s3cr3tpw "$T/state")" ||
        ok "the artifact URL's password is not in the state directory"
# The artifact's answer redirects to another origin (https): curl must not carry the token along;
# to plain http: not followed.
: >"$T/other.log"
offer 36 3.1
ddi_set '.raw = {"path": "/artifacts/os-3.1.osup$", "status": 302, "headers": {"Location": "https://127.0.0.1:'"$OTHER$(dl_path 36 3.1)"'?redirected"}}'
agent
is "redirected elsewhere: the token is not sent there" "$(auth_sent "$T/other.log")" 0
is "redirected elsewhere: fetched there" "$(jq -r 'select(.path | endswith("/os-3.1.osup")) | .status' "$T/other.log" | head -n1)" 200
is "redirected elsewhere: 3.1 is live" "$(live)" 3.1
: >"$T/plain.log"
offer 37 3.2
ddi_set '.action.artifacts[0].file = "'"$T/v3.1.osup"'" | .raw = {"path": "/artifacts/os-3.2.osup$", "status": 302, "headers": {"Location": "http://127.0.0.1:'"$PLAIN$(dl_path 37 3.2)"'"}}'
agent
is "redirected to plain http: not followed" "$(wc -l <"$T/plain.log")" 0
is "redirected to plain http: 3.1 stays live" "$(live)" 3.1
is "redirected to plain http: no success reported" "$(closed 37 | grep -c success || true)" 0
ddi_set 'del(.raw)'

# --- the verdict answered 500: resent next poll, one verdict on the server -------------------------------
offer 30 4
ddi_set '.http_error = {"path": "/deploymentBase/30/feedback$", "method": "POST", "match": "\"closed\"", "status": 500, "count": 1}'
agent
is "verdict answered 500: 4 is live" "$(live)" 4
ddi_set 'del(.http_error)'
agent
is "verdict answered 500: resent, the server holds one closed/success" \
        "$(db '[.actions["30"].feedback[] | select(.status.execution == "closed") | .status.result.finished] | join(",")')" success
is "verdict answered 500: the server's action is finished" "$(db '.actions["30"].status')" finished
is "verdict answered 500: one success in the history" "$(astate '[.history[] | select(.id == "hawkbit/30/4") | .result] | join(",")')" success

# --- a confirmationBase that never stops asking -----------------------------------------------------------
cp "$CONF" "$T/confirm.conf"
printf '[hawkBit]\nAutoConfirm=yes\n' >>"$T/confirm.conf"
offer 31 5 '"confirm": true'
ddi_set '.raw = {"path": "/confirmationBase/[0-9]+([?]|$)", "method": "GET", "body": "{\"id\": \"9{n}\", \"confirmation\": {}}"}'
agent "$T/confirm.conf"
n=$(jq -r 'select(.method == "POST" and (.path | test("/confirmationBase/.*/feedback$"))) | .path' "$T/ddi.log" | wc -l)
[ "$n" -le 2 ] && ok "endless confirmationBase: $n confirmations in one poll" ||
        not_ok "FINDING endless confirmationBase: $n confirmations in one poll (exit $RC: $(tail -n1 <<<"$OUT"))"
[ "$SECS" -le 20 ] && ok "endless confirmationBase: over in $SECS s" || not_ok "endless confirmationBase: $SECS s"
ddi_set 'del(.raw) | .action = null'
is "endless confirmationBase: 4 stays live" "$(live)" 4

# --- a cancelAction whose stopId names an action this agent never saw --------------------------------------
closed_total() { jq -r 'select(.method == "POST" and (.path | test("/deploymentBase/"))) | .body.status.execution' "$T/ddi.log" | grep -c closed || true; }
n=$(closed_total)
offer 39 99 '"cancel": true'
ddi_set '.action.artifacts[0].file = "'"$T/v1.osup"'" | .raw = {"path": "/cancelAction/39$", "method": "GET", "body": "{\"id\": \"39\", \"cancelAction\": {\"stopId\": \"777\"}}"}'
agent
[ "$RC" -lt 128 ] && ok "stopId never seen: no crash (exit $RC)" || not_ok "stopId never seen: exit $RC"
is "stopId never seen: 4 stays live" "$(live)" 4
is "stopId never seen: no verdict on anything" "$(closed_total)" "$n"
is "stopId never seen: no action started" "$(astate '.action.phase // "none"')" none
ddi_set 'del(.raw) | .action = null'

# --- kill -9 between DOWNLOAD and SWITCH, then resumed -------------------------------------------------
# held(ID): the server recorded the "downloaded" feedback of action ID (its answer is held back).
held() { [ "$(db "[.actions[\"$1\"].feedback[]? | select(.status.execution == \"downloaded\")] | length")" -ge 1 ]; }
offer 40 5
ddi_set '.delay = {"path": "/deploymentBase/40/feedback$", "match": "\"downloaded\"", "seconds": 60}'
agent_bg
wait_for 30 held 40 || not_ok "action 40: never downloaded"
kill9
is "killed after DOWNLOAD: phase installing, 4 live" "$(astate '.action.id') $(astate '.action.phase') $(live)" "hawkbit/40/5 installing 4"
ddi_set 'del(.delay)'
n=$(grep -c '"execution":"closed"' "$T/ddi.log" || true)
agent
is "resumed after DOWNLOAD: 5 is live" "$(live)" 5
is "resumed after DOWNLOAD: nothing closed before its health check ran" "$(tail -n1 "$T/closed-at-check")" "$n"
is "resumed after DOWNLOAD: downloaded once" "$(downloads os-5.osup)" 1
is "resumed after DOWNLOAD: downloaded reported once" "$(db '[.actions["40"].feedback[] | select(.status.execution == "downloaded")] | length')" 1
is "resumed after DOWNLOAD: one closed/success" "$(closed 40)" success
is "resumed after DOWNLOAD: started once" "$(feedback 40 | jq -r '.details[]' | grep -c '^osupdate: updating' || true)" 1

# --- kill -9 while the cancellation is being confirmed (after DOWNLOAD: staged) ----------------------------
offer 41 6
ddi_set '.delay = {"path": "/deploymentBase/41/feedback$", "match": "\"downloaded\"", "seconds": 60}'
agent_bg
wait_for 30 held 41 || not_ok "action 41: never downloaded"
kill9
ddi_set '.action.cancel = true | .delay = {"path": "/cancelAction/41/feedback$", "seconds": 60}'
agent_bg
wait_for 30 eval '[ "$(db ".actions[\"41\"].status")" = canceled ]' || not_ok "action 41: the cancellation never reached the server"
kill9
ddi_set 'del(.delay)'
agent
is "killed confirming the cancellation: 5 stays live" "$(live)" 5
is "killed confirming the cancellation: the action ends canceled" "$(astate '[.history[] | select(.id == "hawkbit/41/6") | .result] | join(",")')" canceled
is "killed confirming the cancellation: no verdict accepted" "$(feedback 41 | jq -r 'select(.execution == "closed" and .status == 200) | .finished')" ""
is "killed confirming the cancellation: no action left" "$(astate '.action.phase // "none"')" none

# --- kill -9 between DOWNLOAD and SWITCH, then the server withdraws the action ------------------------------
offer 42 7
ddi_set '.delay = {"path": "/deploymentBase/42/feedback$", "match": "\"downloaded\"", "seconds": 60}'
agent_bg
wait_for 30 held 42 || not_ok "action 42: never downloaded"
kill9
# The operator withdraws 42 on the server (hawkBit: a new assignment supersedes it; nothing to install now).
ddi_stop
ddi_set '.action = null'
jq '.actions["42"].status = "canceled"' "$T/ddi.db" >"$T/ddi.db.new" && mv "$T/ddi.db.new" "$T/ddi.db"
ddi_start
agent
is "FINDING withdrawn after DOWNLOAD: 7 is not switched live" "$(live)" 5
is "withdrawn after DOWNLOAD: no verdict accepted" "$(feedback 42 | jq -r 'select(.execution == "closed" and .status == 200) | .finished')" ""

# --- odd deployments ------------------------------------------------------------------------------------
v=8
for id in '"0"' '"-1"'; do
        offer "$id" $v
        n=$(downloads os-$v.osup)
        cur=$(live)
        agent
        is "FINDING action id $id: nothing downloaded" "$(downloads os-$v.osup)" "$n"
        is "FINDING action id $id: $cur stays live" "$(live)" "$cur"
        v=$((v + 1))
done
cur=$(live)
long=99$(printf 'a%.0s' $(seq 200))
id=25
for v in "../x" "$long" ""; do
        offer $id 99
        ddi_set ".action.version = \"$v\""
        agent
        is "version '${v:0:12}': $cur stays live" "$(live)" "$cur"
        is "version '${v:0:12}': closed/failure" "$(closed $id)" failure
        id=$((id + 1))
done
# The deployment names 99, the artifact is the older (signed) bundle 1; names 10, the artifact is 11.
offer 28 99
ddi_set ".action.artifacts[0].file = \"$T/v1.osup\""
agent
is "version 99 announced, bundle 1 served: $cur stays live" "$(live)" "$cur"
is "version 99 announced, bundle 1 served: closed/failure" "$(closed 28)" failure
offer 29 10
ddi_set ".action.artifacts[0].file = \"$T/v11.osup\""
agent
is "version 10 announced, bundle 11 served: not live" "$(live)" "$cur"
is "FINDING version 10 announced, bundle 11 served: one verdict" "$(closed 29 | wc -w)" 1
is "FINDING version 10 announced, bundle 11 served: downloaded once, not again and again" "$(downloads os-10.osup)" 1
echo "# version 10 announced, bundle 11 served: exit $RC, live $(live), closed '$(closed 29)': $(tail -n2 <<<"$OUT")"

# --- the token ---------------------------------------------------------------------------------------------
ddi_set '.action = null'
cp "$CONF" "$T/open.conf"
cp "$T/token" "$T/token-open"
chmod 0644 "$T/token-open"
sed -i "s|^TargetTokenFile=.*|TargetTokenFile=$T/token-open|" "$T/open.conf"
agent "$T/open.conf"
if grep -q "token-open" <<<"$OUT"; then
        ok "a token file readable by others: refused or warned about (exit $RC)"
else
        not_ok "FINDING a token file readable by others (0644) is used silently: exit $RC"
fi
ln -s "$T/token" "$T/token-link"
sed -i "s|^TargetTokenFile=.*|TargetTokenFile=$T/token-link|" "$T/open.conf"
agent "$T/open.conf"
[ "$RC" != 0 ] && grep -q "token-link" <<<"$OUT" && ok "a token file that is a symlink: refused (exit $RC)" ||
        not_ok "a symlinked token file was followed: exit $RC"
"$OSUPDATE" status --config "$CONF" >"$T/status.out" 2>&1 || true
"$OSUPDATE" status --json --config "$CONF" >>"$T/status.out" 2>&1 || true
grep -q "$TOKEN" "$T/all.out" && not_ok "the token is in the agent's output" || ok "the token is not in the agent's output (debug)"
grep -q "$TOKEN" "$T/status.out" && not_ok "the token is in status" || ok "the token is not in status"
grep -rlq "$TOKEN" "$T/state" && not_ok "the token is in $(grep -rl "$TOKEN" "$T/state")" || ok "the token is not in the state directory"
[ -s "$T/check-env" ] && ! grep -q "$TOKEN" "$T/check-env" && ok "the token is not in the health check's environment or arguments" ||
        not_ok "the health check saw the token (or never ran)"
others=$(find "$T/state" -type f -perm /o=w | paste -sd' ')
is "no file of the state directory is writable by others" "$others" ""

wait "$SLOW_PID" || true
read -r slow_rc slow_end <"$T/slow.end"
slow_secs=$((slow_end - slow_t0))
cat "$T/slow.out" >>"$T/all.out"
[ "$slow_rc" != 0 ] && [ "$slow_rc" -lt 128 ] && ok "slow-loris base answer: an error, exit $slow_rc" || not_ok "slow-loris: exit $slow_rc: $(tail -n2 "$T/slow.out")"
[ "$slow_secs" -le 45 ] && ok "slow-loris base answer: over in $slow_secs s (bound: 30 s a request)" || not_ok "slow-loris: took $slow_secs s"
wait_for 5 test -s "$T/slow.log" || true
is "slow-loris base answer: it was trickling (200, endless)" "$(jq -r 'select(.method == "GET") | .status' "$T/slow.log" | head -n1)" 200
is "no sanitizer report in any agent run" "$(grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/all.out" | head -n3)" ""
is "every request body had exactly the DDI model's fields (--strict)" "$(ddi_rejected)" ""
finish
