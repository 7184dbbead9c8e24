#!/bin/bash
# The agent with Backend=hawkbit against a DDI server (tests/lib/ddi-server.py, written from Eclipse
# hawkBit's Direct Device Integration API, release 1.1.0, tag 1.1.0, commit
# dd342705d46e07e8eb986a79808c7c67eeca9321: DdiRootControllerRestApi.java, Ddi*.java; see
# docs/hawkbit.md), over HTTPS with a target token, every request logged by the server:
#   --dry-run: what would be done, nothing sent;
#   a deployment → install → healthy → exactly one closed/success, nothing closed before the check ran;
#   a failing health check → rollback → closed/failure carrying the check's output; the failed version
#   offered again → not retried, closed/failure;
#   an artifact whose announced SHA-256 is wrong → closed/failure, not live;
#   an artifact without SHA-256 → closed/failure, nothing downloaded;
#   401 (a revoked token) → a clear error, non-zero exit, nothing changed;
#   a downgrade offered → refused, closed/failure.
. "$(dirname "$0")/../lib/ns.sh"
setup_target
. "$(dirname "$0")/../lib/hawkbit.sh"

# The health check records how many closed feedbacks the server had seen when it ran.
cat >"$T/check.sh" <<EOF
#!/bin/sh
grep -c '"execution":"closed"' "$T/ddi.log" >"$T/closed-at-check" || true
exit 0
EOF
chmod +x "$T/check.sh"
printf '[Agent]\nHealthCheck=%s\n[hawkBit]\nAttributes=hwRevision=2\n' "$T/check.sh" >>"$CONF"
# offer_art ID VERSION [extra artifact JSON fields]
offer_art() { offer "$1" "$2"; [ -z "${3:-}" ] || ddi_set ".action.artifacts[0] += {${3#, }}"; }

# --- a deployment: installed, healthy, then exactly one closed/success -------------------------------
make_bundle 2
offer 5 2
ddi_set '.request_attributes = true'
dry=$("$OSUPDATE" agent --dry-run --json --config "$CONF" 2>&1) || true
is "--dry-run: would install 2 from the hawkBit action" "$(jq -r '[.step, .channel.name, .channel.serial, .channel.version] | join(" ")' <<<"$dry" 2>&1)" "download hawkbit 5 2"
is "--dry-run: sent nothing to the server" "$(jq -r 'select(.method != "GET") | .path' "$T/ddi.log" | wc -l)" 0
is "--dry-run: 1 stays live" "$(live)" 1
agent
is "deployment: exit 0" "$RC" 0
is "deployment: 2 is live" "$(live)" 2
is "deployment: exactly one closed feedback, success" "$(closed 5)" success
is "deployment: nothing was closed when the health check ran" "$(cat "$T/closed-at-check" 2>/dev/null)" 0
first=$(feedback 5 | head -n1 | jq -r .execution)
is "deployment: the first feedback is proceeding" "$first" proceeding
is "deployment: the order of the feedback" "$(feedback 5 | jq -r .execution | uniq | paste -sd' ')" \
        "proceeding downloaded proceeding closed"
is "deployment: download progress reported, 100 % last" \
        "$(jq -r 'select(.method == "POST") | .body.status.result.progress | select(.) | "\(.cnt)/\(.of)"' "$T/ddi.log" | tail -n1)" 100/100
is "deployment: the action id names the hawkBit action" "$(jq -r '.history[-1].id' "$T/state/agent.json")" "hawkbit/5/2"
dl=$(jq -r 'select(.path | test("/softwaremodules/.*/artifacts/os-2.osup$")) | .headers.Authorization' "$T/ddi.log" | sort -u)
is "deployment: the artifact download carries the target token" "$dl" "TargetToken $TOKEN"
grep -q "$TOKEN" <<<"$OUT" && not_ok "the token appears in the output" || ok "the token is not in the output"
attrs=$(jq -r 'select(.method == "PUT" and (.path | endswith("/configData"))) | .body.data.hwRevision' "$T/ddi.log")
is "deployment: the attributes were sent once as configData" "$attrs" 2
agent
is "again: exit 0, nothing to do" "$RC" 0
is "again: still one closed feedback" "$(closed 5)" success

# --- a failing health check: rolled back, closed/failure with the check's output ---------------------
make_bundle 3
offer 6 3
cp "$CONF" "$T/sick.conf"
sed -i "s|^HealthCheck=.*|HealthCheck=/bin/sh -c \"echo the service is broken >\&2; exit 3\"|" "$T/sick.conf"
agent "$T/sick.conf"
is "unhealthy: exit 45 (rolled back)" "$RC" 45
is "unhealthy: 2 is live again" "$(live)" 2
is "unhealthy: one closed feedback, failure" "$(closed 6)" failure
feedback 6 | jq -r 'select(.execution == "closed") | .details[]' | grep -q "the service is broken" &&
        ok "unhealthy: the failure carries the check's output" || not_ok "unhealthy: details: $(feedback 6)"

# The server offers the failed version again (a new action): not retried, that action closed/failure.
offer 11 3
agent
is "the failed version again: exit 0" "$RC" 0
is "the failed version again: 2 stays live" "$(live)" 2
is "the failed version again: closed/failure" "$(closed 11)" failure

# --- an artifact whose announced SHA-256 is not its own ----------------------------------------------
make_bundle 4
offer_art 7 4 ", \"sha256\": \"$(printf '%064d' 0)\""
before=$(jq -c '{active, next_boot}' "$T/state/state.json")
agent
[ "$RC" != 0 ] && ok "wrong sha256: non-zero exit ($RC)" || not_ok "wrong sha256: exit 0: $OUT"
is "wrong sha256: 2 stays live" "$(live)" 2
is "wrong sha256: closed/failure" "$(closed 7)" failure
is "wrong sha256: state.json's active slot unchanged" "$(jq -c '{active, next_boot}' "$T/state/state.json")" "$before"

# --- an artifact without SHA-256: refused before any download -----------------------------------------
offer_art 8 4 ', "sha256": null'
n=$(grep -c '/artifacts/os-4.osup"' "$T/ddi.log" || true)
agent
is "no sha256: closed/failure" "$(closed 8)" failure
is "no sha256: nothing downloaded" "$(grep -c '/artifacts/os-4.osup"' "$T/ddi.log" || true)" "$n"
is "no sha256: 2 stays live" "$(live)" 2

# --- 401: the token is refused ------------------------------------------------------------------------
offer 9 4
ddi_set '.token_valid = false' 
before=$(snapshot "$T/state/state.json")
agent
[ "$RC" != 0 ] && grep -q "token was refused" <<<"$OUT" && ok "401: a clear error, exit $RC" || not_ok "401: exit $RC: $OUT"
echo "# 401: $OUT"
is "401: state.json unchanged" "$(snapshot "$T/state/state.json")" "$before"
is "401: 2 stays live" "$(live)" 2
is "401: no feedback sent" "$(feedback 9 | wc -l)" 0

# --- a downgrade offered: refused, closed/failure -------------------------------------------------------
offer 10 1
agent
[ "$RC" != 0 ] && ok "downgrade: refused (exit $RC)" || not_ok "downgrade: exit 0: $OUT"
is "downgrade: 2 stays live" "$(live)" 2
is "downgrade: closed/failure" "$(closed 10)" failure
feedback 10 | jq -r '.details[]' | grep -q "older" && ok "downgrade: the feedback says why" || not_ok "downgrade: $(feedback 10)"

is "every request body had exactly the DDI model's fields (--strict)" "$(ddi_rejected)" ""
finish
