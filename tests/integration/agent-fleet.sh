#!/bin/bash
# A small fleet on one semaphore: 10 machines, each in its own mount namespace with its own /usr,
# state and machine id, run `osupdate agent --once` in a loop against one channel on nginx with
# Strategy=fleet-lock and 2 slots in group "workers". Half take the slot directly from the etcd
# cluster (3 members on 127.0.0.1, Airlock's key and value), half through a FleetLock server that
# keeps the same semaphore in the same etcd. Checked: never more than 2 holders at once (sampled from
# etcd while the rollout runs, and from the agents' own lock timestamps); every machine finishes;
# machine 7 (on 2 from a slot) fails its health check on 3: rolled back to 2, its slot freed; one etcd member killed
# mid-rollout changes nothing; machine 3's agent killed -9 while it holds a slot (in its health
# check) resumes when it runs again and gives the slot back; at the end nobody holds a slot.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"
. "$(dirname "$0")/../lib/etcd.sh"

make_keys
start_nginx || { not_ok "nginx"; finish; }
start_etcd_cluster || { not_ok "etcd cluster"; finish; }
H="http://127.0.0.1:$NGINX_HTTP"
KEY=com.coreos.airlock/groups/workers/v1/semaphore
FL_PORT=$((NGINX_HTTP + 7))
"${PYTHON3:-python3}" "$(dirname "$0")/../lib/fleetlock.py" --listen "$FL_PORT" --etcd "${ETCD_ENDPOINTS// /,}" --slots 2 \
        --log "$T/fleetlock.log" >"$T/fleetlock.out" 2>&1 &
FL_PID=$!
on_exit "kill $FL_PID 2>/dev/null"
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$FL_PORT/" && break; sleep 0.1; done

make_tree "$T/tree1" 1
make_bundle 2
make_bundle 3
cp "$T/v3.osup" "$T/www/v3.osup"
"$OSUPDATE" channel create --key "$T/k1.pem" --name stable --serial 1 --version 3 --bundle "$H/v3.osup" \
        --bundle-file "$T/v3.osup" --percent 100 -o "$T/www/stable.json" >/dev/null

# machine I: a namespace holding its /usr (a read-only tmpfs with tree 1), its configuration.
N=10
PIDS=()
for i in $(seq 0 $((N - 1))); do
        m=$T/m$i
        mkdir -p "$m/root"
        unshare -m --propagation private sleep infinity &
        PIDS[i]=$!
        NS_PIDS+=($!)
        disown $!
done
sleep 0.2
for i in $(seq 0 $((N - 1))); do
        m=$T/m$i
        nsenter -t "${PIDS[i]}" -m sh -e -c "
                mount -t tmpfs -o size=32m machine$i '$m/root'
                mount --make-shared '$m/root'
                mkdir '$m/root/usr'
                mount -t tmpfs -o size=4m usr$i '$m/root/usr'
                cp -a '$T/tree1/.' '$m/root/usr/'
                mount -o remount,ro '$m/root/usr'"
        health="HealthCheck=/bin/sh -c 'sleep 1'"
        [ "$i" = 3 ] && health="HealthCheck=/bin/sh -c 'touch $m/checking; sleep 4'"
        [ "$i" = 7 ] && health="HealthCheck=/bin/sh -c 'echo machine 7 is sick; exit 1'"
        if [ $((i % 2)) = 0 ]; then lock="Etcd=$ETCD_ENDPOINTS"; else lock="FleetLock=http://127.0.0.1:$FL_PORT"; fi
        cat >"$m/osupdate.conf" <<CONF
[Update]
Target=$m/root/usr
StateDirectory=$m/state
RuntimeDirectory=$m/run
KeysDirectory=$T/keys
PolicyDirectory=$m/policy.d
Verity=userspace
[Network]
Retries=0
ConnectTimeout=3s
[Agent]
Channel=$H/stable.json
MachineID=machine-$i
Group=workers
Strategy=fleet-lock
$lock
LockSlots=2
$health
HealthTimeout=20s
CONF
done
# Machine 7 runs 2 from a slot (the others run 1 as booted): its failing check has a slot to go back to.
nsenter -t "${PIDS[7]}" -m "$OSUPDATE" apply -q "$T/v2.osup" --config "$T/m7/osupdate.conf" &&
        ok "machine 7 updated to 2 by hand before the rollout" || not_ok "machine 7: apply 2"

# One machine's agent, --once again and again until its action is in the history (at most 90 s).
run_machine() {
        local i=$1 m=$T/m$1 end=$((SECONDS + 90)) rc
        while [ $SECONDS -lt $end ]; do
                rc=0
                nsenter -t "${PIDS[i]}" -m "$OSUPDATE" agent --once --config "$m/osupdate.conf" >>"$m/log" 2>&1 || rc=$?
                echo "exit $rc" >>"$m/log"
                [ "$(jq -r '.history | length' "$m/state/agent.json" 2>/dev/null || echo 0)" -ge 1 ] && return 0
                sleep 0.$((RANDOM % 5 + 2))
        done
        return 1
}

# Sample the semaphore while the rollout runs.
(
        while :; do
                etcd_get "$KEY" 2>/dev/null | jq -r '.holders | length' 2>/dev/null || true
                sleep 0.1
        done
) >"$T/samples" &
SAMPLER=$!
on_exit "kill $SAMPLER 2>/dev/null"

RUNS=()
for i in $(seq 0 $((N - 1))); do
        run_machine "$i" &
        RUNS+=($!)
done
# Machine 3: killed -9 in the middle of its health check, while it holds a slot; then run again.
for _ in $(seq 600); do [ -e "$T/m3/checking" ] && break; sleep 0.1; done
if [ -e "$T/m3/checking" ]; then
        held=$(etcd_get "$KEY" | jq -r '.holders | index("machine-3") != null')
        pkill -KILL -f "agent --once --config $T/m3/osupdate.conf" && ok "machine 3's agent killed -9 in its health check" ||
                not_ok "could not kill machine 3's agent"
        [ "$held" = true ] && ok "… while it held a slot" || not_ok "machine 3 did not hold a slot when killed: $(etcd_get "$KEY")"
        [ "$(jq -r .action.phase "$T/m3/state/agent.json")" = checking ] && ok "… its durable phase says checking" ||
                not_ok "machine 3 phase: $(jq -c .action "$T/m3/state/agent.json")"
else
        not_ok "machine 3 never reached its health check"
fi
# One etcd member killed mid-rollout.
stop_etcd_member 2 && ok "etcd member 2 killed mid-rollout"
wait_all_ok=1
for j in "${RUNS[@]}"; do wait "$j" || wait_all_ok=0; done
kill "$SAMPLER" 2>/dev/null || true

for i in $(seq 0 $((N - 1))); do
        r=$(jq -r '.history[-1].result' "$T/m$i/state/agent.json" 2>/dev/null || echo none)
        want=success
        [ "$i" = 7 ] && want=failure
        if [ "$r" = "$want" ]; then ok "machine $i finished: $r"; else not_ok "machine $i: $r; log: $(tail -5 "$T/m$i/log")"; fi
done
v7=$(nsenter -t "${PIDS[7]}" -m cat "$T/m7/root/usr/version")
[ "$v7" = 2 ] && ok "machine 7 rolled back to 2" || not_ok "machine 7 runs $v7"
grep -q "machine 7 is sick" <<<"$(jq -r '.history[-1].output' "$T/m7/state/agent.json")" && ok "machine 7's check output recorded" ||
        not_ok "machine 7 output"
v0=$(nsenter -t "${PIDS[0]}" -m cat "$T/m0/root/usr/version")
[ "$v0" = 3 ] && ok "machine 0 runs 3" || not_ok "machine 0 runs $v0"

max=$(sort -n "$T/samples" | tail -1)
n_samples=$(wc -l <"$T/samples")
[ -n "$max" ] && [ "$max" -le 2 ] && [ "$max" -ge 1 ] && ok "etcd: at most 2 holders in $n_samples samples (max $max)" ||
        not_ok "etcd samples: max '$max' of $n_samples"
# From the agents' own timestamps (milliseconds): at no moment more than 2 lock intervals overlap (a
# release sorts before a take in the same millisecond).
for i in $(seq 0 $((N - 1))); do
        jq -r '.history[] | select(.lock_taken > 0) | "\(.lock_taken) 1\n\(.lock_released) -1"' "$T/m$i/state/agent.json"
done | sort -k1,1n -k2,2n | awk '{ c += $2; if (c > m) m = c } END { print m + 0 }' >"$T/overlap"
[ "$(cat "$T/overlap")" -le 2 ] && [ "$(cat "$T/overlap")" -ge 1 ] && ok "timestamps: at most $(cat "$T/overlap") slots held at once" ||
        not_ok "timestamps: $(cat "$T/overlap") at once"
final=$(etcd_get "$KEY")
[ "$(jq -r '.holders | length' <<<"$final")" = 0 ] && [ "$(jq -r .total_slots <<<"$final")" = 2 ] &&
        ok "at the end nobody holds a slot: $final" || not_ok "final semaphore: $final"
grep -q pre-reboot "$T/fleetlock.log" && grep -q steady-state "$T/fleetlock.log" &&
        ok "the FleetLock machines went through the FleetLock server" || not_ok "fleetlock log: $(head -3 "$T/fleetlock.log")"
[ "$wait_all_ok" = 1 ] && ok "every machine's loop ended in time" || not_ok "a machine's loop timed out"
finish
