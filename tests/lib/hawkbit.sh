# shellcheck shell=bash
# The hawkBit tests' common part, sourced after ns.sh and setup_target: a CA of their own, the DDI
# server (tests/lib/ddi-server.py, written from Eclipse hawkBit's Direct Device Integration API,
# release 1.1.0, tag 1.1.0, commit dd342705d46e07e8eb986a79808c7c67eeca9321:
# DdiRootControllerRestApi.java and the Ddi*.java model classes; docs/hawkbit.md) over HTTPS with a
# target token, in --strict mode (every request body must have exactly the model's fields), every
# request logged as a JSON line in $T/ddi.log; the agent configured with Backend=hawkbit.
#
#   ddi_start [extra server options]     starts (or restarts) the server on $DDI_PORT (0: any)
#   ddi_stop                             stops it (the --db keeps what it learnt)
#   offer ID VERSION [JSON fields]       scripts the current action (download/update forced)
#   ddi_set JQ-FILTER                    edits the server's state file
#   agent [CONF]                         one poll (--once); RC and OUT set
#   feedback ID / closed ID              the feedback bodies the server got for action ID
#   ddi_rejected                         requests the server refused as malformed (400): none expected
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "SKIP: /usr/bin/python3 is not installed (the DDI server)"; exit 77; }
HB_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

ID=${ID:-machine-0001}
TOKEN=${TOKEN:-t0k3nForMachine0001}
printf '%s\n' "$TOKEN" >"$T/token"
chmod 0600 "$T/token" # a secret: the agent refuses a token file others can read
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/ca.key" \
        -subj "/CN=osupdate test hawkBit CA" -days 2 -out "$T/ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/server.key" \
        -subj "/CN=127.0.0.1" -out "$T/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$T/san.ext"
openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
        -extfile "$T/san.ext" -out "$T/server.pem" 2>/dev/null
[ -f "$T/ddi.json" ] || echo '{"polling_sleep": "00:00:01"}' >"$T/ddi.json"
: >"$T/ddi.log"
DDI_PORT=${DDI_PORT:-0}
DDI_PID=
ddi_start() {
        rm -f "$T/ddi.port"
        /usr/bin/python3 "$HB_LIB/ddi-server.py" --port "$DDI_PORT" --port-file "$T/ddi.port" --strict \
                --cert "$T/server.pem" --key "$T/server.key" --tenant DEFAULT --controller "$ID" \
                --target-token "$TOKEN" --state "$T/ddi.json" --db "$T/ddi.db" --log "$T/ddi.log" "$@" 2>>"$T/ddi.err" &
        DDI_PID=$!
        disown "$DDI_PID" # no "Killed" job report when the test ends it
        for _ in $(seq 100); do [ -s "$T/ddi.port" ] && break; sleep 0.1; done
        [ -s "$T/ddi.port" ] || { not_ok "the DDI server did not start: $(cat "$T/ddi.err")"; finish; }
        DDI_PORT=$(cat "$T/ddi.port")
}
ddi_stop() {
        [ -n "$DDI_PID" ] && kill "$DDI_PID" 2>/dev/null && while kill -0 "$DDI_PID" 2>/dev/null; do sleep 0.05; done
        DDI_PID=
}
on_exit ddi_stop
ddi_start

cat >>"$CONF" <<CONF
Verity=userspace
[Network]
CAFile=$T/ca.pem
Retries=0
ConnectTimeout=5s
[Agent]
Backend=hawkbit
MachineID=$ID
HealthTimeout=10s
[hawkBit]
Server=https://127.0.0.1:$DDI_PORT
TargetTokenFile=$T/token
CONF

live() { cat "$TARGET/version"; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi; }
agent() {
        RC=0
        OUT=$(timeout -s KILL 120 "$OSUPDATE" agent --once --config "${1:-$CONF}" 2>&1) || RC=$?
}
ddi_set() { jq "$1" "$T/ddi.json" >"$T/ddi.json.new" && mv "$T/ddi.json.new" "$T/ddi.json"; }
# offer ID VERSION [extra action fields as JSON, e.g. '"maintenance_window": "unavailable"']
offer() {
        cat >"$T/ddi.json" <<JSON
{"polling_sleep": "00:00:01",
 "action": {"id": $1, "version": "$2", "download": "forced", "update": "forced",
            "artifacts": [{"file": "$T/v$2.osup", "filename": "os-$2.osup"}]${3:+, $3}}}
JSON
}
feedback() {
        jq -c --arg p "/deploymentBase/$1/feedback" 'select(.method == "POST" and (.path | endswith($p))) |
                {execution: .body.status.execution, finished: .body.status.result.finished,
                 details: (.body.status.details // []), status}' "$T/ddi.log"
}
cancel_feedback() {
        jq -c --arg p "/cancelAction/$1/feedback" 'select(.method == "POST" and (.path | endswith($p))) |
                {execution: .body.status.execution, finished: .body.status.result.finished,
                 details: (.body.status.details // []), status}' "$T/ddi.log"
}
closed() { feedback "$1" | jq -r 'select(.execution == "closed") | .finished' | paste -sd' '; }
downloads() { jq -r --arg f "$1" 'select(.method == "GET" and (.path | endswith("/artifacts/" + $f))) | .path' "$T/ddi.log" | wc -l; }
ddi_rejected() { jq -c 'select(.status == 400)' "$T/ddi.log"; }
