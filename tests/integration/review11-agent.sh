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
# (Not a job of this shell: its kill at the end is not reported as the test's output.)
(python3 "$T/fake-lock.py" "$T" </dev/null >"$T/fake-lock.log" 2>&1 & echo $! >"$T/lock.pid")
on_exit 'kill "$(cat "$T/lock.pid")" 2>/dev/null'
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
is "no action left open" "$(ast '.action.phase // "none"')" none
grep -q "no longer offers 2" <<<"$(ast .last_error)" && ok "the reason is kept: $(ast .last_error)" ||
        not_ok "last_error: $(ast .last_error)"
grep -qx /v1/steady-state "$T/lock.log" && ok "the slot is given back" || not_ok "no release: $(cat "$T/lock.log")"
is "2 is not given up (it never ran)" "$(ast '.failed_versions // [] | index("2")')" null
agent
is "the next poll installs 3: exit 0" "$RC" 0
is "3 is live" "$(live)" 3

# ---- 3. the agent killed at a rename (agent.json, state.json, the slot's files) or while it speaks
# to the lock server, then the next poll: one history entry per action, success only with the slot
# marked good, the live version never older, the slot of the semaphore given back at the end.
if command -v strace >/dev/null; then
        echo free >"$T/lock-mode"
        serial=7 v=3
        killed_at() { # killed_at SYSCALL N
                local sc=$1 n=$2 prev rc entries
                prev=$(live) serial=$((serial + 1)) v=$((v + 1))
                publish "$v"
                channel "$serial" "$v"
                rc=$( (strace -f -o /dev/null -e trace="$sc" -e inject="$sc":signal=KILL:when="$n" "$OSUPDATE" agent --once \
                        --config "$CONF" >"$T/killed.log" 2>&1)
                        echo $?) 2>/dev/null
                [ "$rc" != 0 ] || { not_ok "$sc#$n: the poll made fewer calls than that: $(cat "$T/killed.log")"; return; }
                jq -e .format "$T/state/agent.json" >/dev/null && ok "$sc#$n: agent.json whole" || not_ok "$sc#$n: agent.json"
                case $(live) in "$prev" | "$v") ok "$sc#$n: live $(live), never older" ;; *) not_ok "$sc#$n: live $(live) (was $prev)" ;; esac
                entries=$(ast "[.history[]? | select(.version == \"$v\")] | map(.result) | join(\",\")")
                case $entries in
                "") ok "$sc#$n: no verdict yet" ;;
                success)
                        [ "$(jq -r ".slots[.active].good and .slots[.active].version == \"$v\"" "$T/state/state.json")" = true ] &&
                                ok "$sc#$n: success recorded only after mark-good" || not_ok "$sc#$n: success before mark-good" ;;
                *) not_ok "$sc#$n: history for $v after the kill: '$entries'" ;;
                esac
                agent
                is "$sc#$n: the next poll finishes: exit 0" "$RC" 0
                is "$sc#$n: $v live" "$(live)" "$v"
                is "$sc#$n: one history entry, success" "$(ast "[.history[] | select(.version == \"$v\")] | map(.result) | join(\",\")")" success
                is "$sc#$n: no action left open, no slot held" "$(ast '.action.phase // "none"')" none
                is "$sc#$n: the last word to the lock server gave the slot back" "$(tail -n 1 "$T/lock.log")" /v1/steady-state
        }
        for n in 1 3 11 13 15 16 18; do killed_at renameat "$n"; done
        killed_at sendto 3
else
        echo "# strace is not installed: the crash checks are skipped"
fi

# ---- 4. an etcd value with 100 000 holders: read at once, not compared pairwise ---------------
python3 -c 'import json; print(json.dumps({"total_slots": 2, "holders": ["%x" % i for i in range(100000)]}, separators=(",", ":")), end="")' \
        >"$T/etcd-value"
printf '[Agent]\nEtcd=%s\n' "$LOCK" >"$T/etcd.conf"
rc=0
n=$(timeout -s KILL 15 "$OSUPDATE" lock status --json --config "$T/etcd.conf" 2>"$T/etcd.err" | jq '.holders | length') || rc=$?
is "lock status of 100 000 holders returns within 15 s (it took 21 s of CPU)" "$rc/$n" 0/100000

# ---- 5. health checks an unprivileged user can write ------------------------------------------
mkdir -p "$T/hc" "$T/hc.d"
printf '#!/bin/sh\ntouch %s/ran-as-root\n' "$T" >"$T/hc/check"
chmod 755 "$T/hc/check"
chown nobody "$T/hc/check"
rc=0
out=$("$HEALTH_RUN" <(printf '[Agent]\nHealthCheck=%s\n' "$T/hc/check") 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "owned by uid" <<<"$out" && ok "a HealthCheck= program owned by nobody: not run, the check fails" ||
        not_ok "a HealthCheck= owned by nobody: rc=$rc $out"
[ ! -e "$T/ran-as-root" ] && ok "nobody's program did not run as root" || not_ok "nobody's program ran as root"
chown root "$T/hc/check"
chmod 775 "$T/hc/check"
rc=0
out=$("$HEALTH_RUN" <(printf '[Agent]\nHealthCheck=%s\n' "$T/hc/check") 2>&1) || rc=$?
[ "$rc" = 1 ] && [ ! -e "$T/ran-as-root" ] && ok "a group-writable HealthCheck= program: not run" || not_ok "group-writable: rc=$rc $out"
# A directory anyone may add to (like /tmp): nobody links a root-owned program in, root runs it.
chmod 755 "$T/hc/check"
chmod 1777 "$T/hc.d"
runuser -u nobody -- ln -s "$T/hc/check" "$T/hc.d/00-planted" 2>/dev/null || ln -s "$T/hc/check" "$T/hc.d/00-planted"
rc=0
out=$("$HEALTH_RUN" <(printf '[Agent]\nHealthCheckDirectory=%s\n' "$T/hc.d") 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "HealthCheckDirectory=.*owned by uid 0 with mode 1777" <<<"$out" &&
        ok "a world-writable HealthCheckDirectory=: nothing in it runs, the check fails" || not_ok "world-writable dir: rc=$rc $out"
[ ! -e "$T/ran-as-root" ] && ok "the planted link was not run" || not_ok "the planted link ran as root"
chmod 755 "$T/hc.d"
rc=0
out=$("$HEALTH_RUN" <(printf '[Agent]\nHealthCheckDirectory=%s\n' "$T/hc.d") 2>&1) || rc=$?
[ "$rc" = 0 ] && [ -e "$T/ran-as-root" ] && ok "the same directory, root's only: its checks run" || not_ok "safe dir: rc=$rc $out"

finish
