#!/bin/bash
# The fleet semaphore (`osupdate lock status|acquire|release`) on a real three-member etcd cluster:
# Airlock's key and value, recursive taking, a full semaphore (exit 43), one member killed, a value
# that is not Airlock's (refused, untouched), ten machines racing for two slots (compare-and-swap),
# and the same semaphore through a FleetLock server (tests/lib/fleetlock.py) shared with machines
# that use etcd directly.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../lib/etcd.sh"
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }

key() { echo "com.coreos.airlock/groups/$1/v1/semaphore"; }
# value_is GROUP EXPECTED: the semaphore's value, byte for byte as Airlock (Go's json.Marshal) writes it.
value_is() {
        local got
        got=$(etcd_get "$(key "$1")")
        [ "$got" = "$2" ] && ok "etcd holds $2 for group $1" || not_ok "group $1: etcd holds '$got', expected '$2'"
}
mod_revision() {
        etcdctl_all get -w json "$(key "$1")" | jq -r '.kvs[0].mod_revision'
}

start_etcd_cluster
cat >"$T/etcd.conf" <<EOF
[Agent]
Etcd=$ETCD_ENDPOINTS
LockSlots=2
MachineID=machine-self
EOF
L() { "$OSUPDATE" lock "$@" --config "$T/etcd.conf"; }

# --- status before anything exists; the first acquire creates Airlock's value -------------------
expect "status: no semaphore yet" 0 "none yet" L status
[ "$(L status --json | jq -r .exists)" = false ] && ok "status --json: exists false" || not_ok "status --json: $(L status --json)"
check "acquire a" L acquire --id a
value_is default '{"total_slots":2,"holders":["a"]}'
rev=$(mod_revision default)
check "acquire a again (recursive)" L acquire --id a
[ "$(mod_revision default)" = "$rev" ] && ok "a recursive acquire writes nothing" ||
        not_ok "recursive acquire changed the key: mod_revision $rev -> $(mod_revision default)"
check "acquire b" L acquire --id b
value_is default '{"total_slots":2,"holders":["a","b"]}'
expect "acquire c: full, naming the holders" 43 "full.*held by a, b" L acquire --id c
value_is default '{"total_slots":2,"holders":["a","b"]}'
st=$(L status --json)
[ "$(jq -c '[.total_slots, .holders, .free]' <<<"$st")" = '[2,["a","b"],0]' ] && ok "status --json: 2 slots, a and b" ||
        not_ok "status --json: $st"
expect "status names the holders" 0 "Holders: a, b" L status

# --- release frees a slot; a non-holder's release changes nothing ------------------------------
check "release a" L release --id a
value_is default '{"total_slots":2,"holders":["b"]}'
check "acquire c now succeeds" L acquire --id c
value_is default '{"total_slots":2,"holders":["b","c"]}'
rev=$(mod_revision default)
check "release of a non-holder (gone-machine)" L release --id gone-machine
[ "$(mod_revision default)" = "$rev" ] && ok "a non-holder's release writes nothing" || not_ok "release of a non-holder wrote"
check "release b" L release --id b
check "release c" L release --id c
value_is default '{"total_slots":2,"holders":[]}'
check "acquire with the default id (MachineID=)" L acquire
value_is default '{"total_slots":2,"holders":["machine-self"]}'
check "release with the default id" L release
printf 'file-machine-id\n' >"$T/machine-id"
sed "s|^MachineID=.*|MachineID=$T/machine-id|" "$T/etcd.conf" >"$T/file-id.conf"
check "acquire with the id from MachineID=FILE" "$OSUPDATE" lock acquire --config "$T/file-id.conf"
value_is default '{"total_slots":2,"holders":["file-machine-id"]}'
check "release it" "$OSUPDATE" lock release --config "$T/file-id.conf"

# --- bad input -----------------------------------------------------------------------------------
expect "an invalid --id is a usage error" 2 "invalid --id" L acquire --id 'a/b'
expect "an invalid --group is a usage error" 2 "invalid --group" L acquire --id a --group 'no_such/group'
printf '[Agent]\nLockSlots=2\n' >"$T/none.conf"
expect "neither FleetLock= nor Etcd=: configuration error" 4 "FleetLock=.*Etcd=" "$OSUPDATE" lock acquire --id a --config "$T/none.conf"
read -r closed < <(_free_ports 1)
printf '[Agent]\nEtcd=http://127.0.0.1:%s\n[Network]\nConnectTimeout=2s\n' "$closed" >"$T/dead.conf"
expect "no etcd endpoint answers: network error" 30 "No etcd endpoint answered" \
        "$OSUPDATE" lock acquire --id a --config "$T/dead.conf"

# --- a value that is not Airlock's layout: refused (exit 15), never overwritten ------------------
for v in '{"total_slots":2,"holders":[],"extra":1}' 'not json' '{"total_slots":"2","holders":[]}' \
        '{"total_slots":2,"holders":["a","a"]}' '{"holders":[]}'; do
        etcd_put "$(key weird)" "$v"
        expect "acquire refuses the value $v" 15 "not Airlock's semaphore" L acquire --id a --group weird
        expect "release refuses the value $v" 15 "not Airlock's semaphore" L release --id a --group weird
        [ "$(etcd_get "$(key weird)")" = "$v" ] && ok "the value $v is left untouched" ||
                not_ok "the value $v was changed: $(etcd_get "$(key weird)")"
done
expect "status refuses it too" 15 "not Airlock's semaphore" L status --group weird

# --- HTTPS with a client certificate: [Network] CAFile=, ClientCertificate=, ClientKey= ------------
D="$T/etcd-tls"
printf '[Agent]\nEtcd=%s\nLockSlots=2\n[Network]\nCAFile=%s\nClientCertificate=%s\nClientKey=%s\n' \
        "$ETCD_TLS_ENDPOINTS" "$D/ca.pem" "$D/client.pem" "$D/client.key" >"$T/tls.conf"
check "HTTPS with a client certificate: acquire" "$OSUPDATE" lock acquire --id t1 --group tls --config "$T/tls.conf"
value_is tls '{"total_slots":2,"holders":["t1"]}'
sed "s|^CAFile=.*|CAFile=$D/other-ca.pem|" "$T/tls.conf" >"$T/other-ca.conf"
expect "HTTPS, server certificate from another CA: refused" 33 "TLS failed" \
        "$OSUPDATE" lock acquire --id t2 --group tls --config "$T/other-ca.conf"
grep -v '^Client' "$T/tls.conf" >"$T/no-cert.conf"
rc=0
out=$("$OSUPDATE" lock acquire --id t3 --group tls --config "$T/no-cert.conf" 2>&1) || rc=$?
[[ "$rc" = 30 || "$rc" = 33 ]] && ok "HTTPS without the client certificate: refused (exit $rc)" ||
        not_ok "no client certificate: exit $rc: $out"
check "HTTPS with a client certificate: release" "$OSUPDATE" lock release --id t1 --group tls --config "$T/tls.conf"
value_is tls '{"total_slots":2,"holders":[]}'

# --- one member killed (the first listed): both still work through the other two -----------------
stop_etcd_member 1
check "acquire x with member 1 dead" L acquire --id x --group failover
check "acquire y with member 1 dead" L acquire --id y --group failover
expect "acquire z: full" 43 "held by x, y" L acquire --id z --group failover
check "release x with member 1 dead" L release --id x --group failover
value_is failover '{"total_slots":2,"holders":["y"]}'

# --- ten machines race for two slots: exactly two win -------------------------------------------
mkdir "$T/race"
racers=()
for i in $(seq 1 10); do
        (
                rc=0
                # All at once, so the compare-and-swap really is contended.
                while [ ! -e "$T/race/go" ]; do sleep 0.01; done
                OSUPDATE_DEBUG=1 "$OSUPDATE" lock acquire --id "m$i" --group race --config "$T/etcd.conf" >"$T/race/m$i.out" 2>&1 || rc=$?
                echo "$rc" >"$T/race/m$i.rc"
        ) &
        racers+=("$!")
done
sleep 0.3
: >"$T/race/go"
wait "${racers[@]}"
won=$(grep -lx 0 "$T"/race/*.rc | wc -l)
full=$(grep -lx 43 "$T"/race/*.rc | wc -l)
[ "$won" = 2 ] && [ "$full" = 8 ] && ok "10 racing acquires: 2 took a slot, 8 found it full" ||
        not_ok "10 racing acquires: $won won, $full full; codes: $(cat "$T"/race/*.rc | tr '\n' ' ')"
holders=$(etcd_get "$(key race)" | jq -r '.holders | join(" ")')
winners=$(for f in $(grep -lx 0 "$T"/race/*.rc); do basename "$f" .rc; done | sort | tr '\n' ' ')
[ "$holders " = "$winners" ] && [ "$(etcd_get "$(key race)" | jq .total_slots)" = 2 ] &&
        ok "etcd holds exactly the two winners ($holders)" || not_ok "etcd holders '$holders', winners '$winners'"
echo "# compare-and-swap retries in the race: $(cat "$T"/race/*.out | grep -c "changed meanwhile" || true)"

# --- FleetLock: the same semaphore through a FleetLock server ------------------------------------
"$PYTHON3" "$(dirname "$0")/../lib/fleetlock.py" --listen 0 --port-file "$T/fl.port" --slots 2 \
        --etcd "${ETCD_ENDPOINTS// /,}" --log "$T/fl.log" 2>"$T/fl.err" &
FL_PID=$!
on_exit 'kill $FL_PID 2>/dev/null'
for i in $(seq 1 50); do [ -s "$T/fl.port" ] && break; sleep 0.1; done
[ -s "$T/fl.port" ] || { not_ok "fleetlock.py did not start: $(cat "$T/fl.err")"; finish; }
FL="http://127.0.0.1:$(cat "$T/fl.port")"
printf '[Agent]\nFleetLock=%s/\n' "$FL" >"$T/fl.conf"
F() { "$OSUPDATE" lock "$@" --config "$T/fl.conf"; }

check "etcd client e1 takes a slot of group mixed" L acquire --id e1 --group mixed
check "FleetLock client f1 takes the other" F acquire --id f1 --group mixed
value_is mixed '{"total_slots":2,"holders":["e1","f1"]}'
check "FleetLock: f1 again (recursive)" F acquire --id f1 --group mixed
expect "FleetLock: f2 finds it full (the etcd holder counts)" 43 "all 2 semaphore slots currently locked" \
        F acquire --id f2 --group mixed
expect "etcd: e2 finds it full (the FleetLock holder counts)" 43 "held by e1, f1" L acquire --id e2 --group mixed
check "FleetLock: release f1" F release --id f1 --group mixed
value_is mixed '{"total_slots":2,"holders":["e1"]}'
check "FleetLock: release of a non-holder" F release --id nobody --group mixed
check "etcd: release e1" L release --id e1 --group mixed
check "FleetLock: f2 now takes a slot" F acquire --id f2 --group mixed
value_is mixed '{"total_slots":2,"holders":["f2"]}'
expect "status over FleetLock says it cannot ask" 4 "FleetLock protocol .*no way to ask" F status --group mixed
grep -q "/v1/pre-reboot 500 id=f2 group=mixed kind=failed_lock" "$T/fl.log" &&
        grep -q "/v1/steady-state 200 id=f1 group=mixed" "$T/fl.log" && ok "the server logged the requests" ||
        not_ok "server log: $(cat "$T/fl.log")"

# The server's own checks, as Airlock makes them.
code=$(curl -s -o "$T/nohdr.body" -w '%{http_code}' -X POST -d '{"client_params":{"id":"z","group":"mixed"}}' \
        "$FL/v1/pre-reboot")
[ "$code" = 400 ] && [ "$(jq -r .kind "$T/nohdr.body")" = invalid_client_identity ] &&
        ok "no fleet-lock-protocol header: 400 invalid_client_identity" || not_ok "no header: $code $(cat "$T/nohdr.body")"
code=$(curl -s -o "$T/badgrp.body" -w '%{http_code}' -X POST -H 'fleet-lock-protocol: true' \
        -d '{"client_params":{"id":"z","group":"a/b"}}' "$FL/v1/pre-reboot")
[ "$code" = 400 ] && [ "$(jq -r .kind "$T/badgrp.body")" = unknown_group ] &&
        ok "a group outside [a-zA-Z0-9.-]: 400 unknown_group" || not_ok "bad group: $code $(cat "$T/badgrp.body")"
value_is mixed '{"total_slots":2,"holders":["f2"]}'
kill "$FL_PID" 2>/dev/null; wait "$FL_PID" 2>/dev/null || true
expect "FleetLock server gone: network error" 30 "$FL" F acquire --id f3 --group mixed

finish
