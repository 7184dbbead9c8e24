#!/bin/bash
# The fleet part of scripts/demo (--fleet), run in a throwaway mount namespace: eight machines, each
# with its own /usr (a read-only tmpfs holding release 1.0), state and machine id, follow one signed
# channel served by nginx on 127.0.0.1. The operator raises the rollout 25 % → 60 % → 100 %; the
# last wave goes through a fleet-wide semaphore in etcd (2 slots): never more than two machines
# switch at once, each gives its slot back only once its health check passed.
# demo-fleet.sh OSUPDATE DIR — DIR holds release.pem, keys.d/, usr-1.0/ and usr-2.0/ (scripts/demo's).
set -euo pipefail
OSUPDATE=$1
d=$2
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
f=$d/fleet
mkdir -p "$f/www" "$f/nginx"
pids=()
cleanup() {
        for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
        [ -e "$f/nginx/nginx.pid" ] && kill "$(cat "$f/nginx/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
cat >"$f/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon on;
pid $f/nginx/nginx.pid;
error_log $f/nginx/error.log;
events { worker_connections 64; }
http {
        access_log $f/nginx/access.log;
        client_body_temp_path $f/nginx/tmp;
        default_type application/octet-stream;
        server { listen 127.0.0.1:$port; root $f/www; }
}
CONF
nginx -c "$f/nginx/nginx.conf" -p "$f/nginx"
H="http://127.0.0.1:$port"
eport=$((port + 1)) pport=$((port + 2))
etcd --name demo --data-dir "$f/etcd" --listen-client-urls "http://127.0.0.1:$eport" \
        --advertise-client-urls "http://127.0.0.1:$eport" --listen-peer-urls "http://127.0.0.1:$pport" \
        --initial-advertise-peer-urls "http://127.0.0.1:$pport" --initial-cluster "demo=http://127.0.0.1:$pport" \
        >"$f/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$eport" endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
echo "nginx serves $f/www on $H; etcd listens on 127.0.0.1:$eport"

say "Eight machines running 1.0, each in this namespace with its own /usr, state and machine id"
"$OSUPDATE" bundle create -q --key "$d/release.pem" --os-id demo --version 2.0 --tree "$d/usr-2.0" -o "$f/www/demo-2.0.osup"
for i in 1 2 3 4 5 6 7 8; do
        m=$f/machine$i
        mkdir -p "$m/usr"
        mount -t tmpfs -o size=8m "machine$i" "$m/usr"
        cp -a "$d/usr-1.0/." "$m/usr/"
        mount -o remount,ro "$m/usr"
        cat >"$m/osupdate.conf" <<CONF
[Update]
Target=$m/usr
StateDirectory=$m/state
RuntimeDirectory=$m/run
KeysDirectory=$d/keys.d
PolicyDirectory=$m/policy.d
Verity=userspace
[Agent]
Channel=$H/stable.json
MachineID=demo-machine-$i
HealthCheck=$m/usr/bin/hello
CONF
done
cat "$f/machine1/osupdate.conf"

publish() { # publish SERIAL PERCENT
        run "$OSUPDATE" channel create --key "$d/release.pem" --name stable --serial "$1" --version 2.0 \
                --bundle "$H/demo-2.0.osup" --bundle-file "$f/www/demo-2.0.osup" --percent "$2" -o "$f/www/stable.json"
}
table() {
        printf '  %-10s %-8s %s\n' MACHINE BUCKET "RUNNING /usr"
        for i in 1 2 3 4 5 6 7 8; do
                printf '  %-10s %-8s %s\n' "machine$i" "$(jq -r '.bucket // "-" | if type == "number" then (. * 10 | floor / 10) else . end' \
                        "$f/machine$i/state/agent.json" 2>/dev/null || echo -)" "$(cat "$f/machine$i/usr/version")"
        done
}
poll_all() {
        for i in 1 2 3 4 5 6 7 8; do "$OSUPDATE" agent --once -q --config "$f/machine$i/osupdate.conf" || true; done
}

say "Wave 1: the operator publishes 2.0 to 25 % of the fleet (one signed document, any web server)"
publish 1 25
run "$OSUPDATE" channel verify "$f/www/stable.json" --keys "$d/keys.d"
poll_all
table

say "What a machine that is not in the wave yet thinks (--dry-run changes nothing)"
for i in 1 2 3 4 5 6 7 8; do
        if [ "$(cat "$f/machine$i/usr/version")" = 1.0 ]; then
                run "$OSUPDATE" agent --dry-run --config "$f/machine$i/osupdate.conf"
                break
        fi
done

say "Wave 2: 60 % — the machines of wave 1 stay, more join (each machine's bucket is stable)"
publish 2 60
poll_all
table

say "Wave 3: 100 %, through a fleet-wide semaphore in etcd: at most 2 machines switch at once"
for i in 1 2 3 4 5 6 7 8; do
        cat >>"$f/machine$i/osupdate.conf" <<CONF
Strategy=fleet-lock
Etcd=http://127.0.0.1:$eport
Group=demo
LockSlots=2
HealthCheck=/bin/sleep 1
CONF
done
publish 3 100
for i in 1 2 3 4 5 6 7 8; do
        (for _ in $(seq 40); do
                "$OSUPDATE" agent --once -q --config "$f/machine$i/osupdate.conf" >/dev/null 2>&1 || true
                [ "$(jq -r '.action.phase // "none"' "$f/machine$i/state/agent.json")" = none ] &&
                        [ "$(cat "$f/machine$i/usr/version")" = 2.0 ] && break
                sleep 0.3
        done) &
done
last=""
while [ -n "$(jobs -rp | grep -v -x -F "${pids[*]}")" ]; do
        now=$(ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$eport" get com.coreos.airlock/groups/demo/v1/semaphore \
                --print-value-only 2>/dev/null || true)
        [ -n "$now" ] && [ "$now" != "$last" ] && echo "  semaphore: $now"
        last=$now
        sleep 0.2
done
table

say "One machine's view (osupdate status, the agent's part)"
"$OSUPDATE" status --config "$f/machine1/osupdate.conf" | sed -n '/^Agent:/,$p'
