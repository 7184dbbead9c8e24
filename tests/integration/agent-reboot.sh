#!/bin/bash
# After a switch that needs a boot, the agent's verdict comes from the next boot's mark-good, with
# the real boot stage (osupdate-initrd on the host, degraded verity) between the agent's polls.
# The running kernel's modules force the staging: the booted /usr has lib/modules/$(uname -r), v3
# and v4 lack it (apply stages them, exit 42). Story: v1 provisioned and booted → v2 live and healthy
# (success), booted → v3 staged (phase rebooting, exit 0; polling again downloads nothing) → two trial boots
# without mark-good (the agent still waits, never reports early) → the third boot falls back to v2 →
# failure, v3 given up → v4 staged → booted → waits until `osupdate mark-good` → success, once.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"

REL=$(uname -r)
make_keys
# v1 and v2 carry the running kernel's modules; v3 and v4 do not.
for v in 1 2; do
        mkdir -p "$T/tree$v/lib/modules/$REL/kernel"
        echo module >"$T/tree$v/lib/modules/$REL/kernel/x.ko"
done
for v in 1 2 3 4; do make_bundle "$v"; done
start_nginx || { not_ok "nginx"; finish; }
H="http://127.0.0.1:$NGINX_HTTP"
cp "$T"/v[234].osup "$T/www/"

. "$(dirname "$0")/../lib/machine.sh"
cat >"$CONF" <<CONF
[Update]
Target=$R/usr
StateDirectory=$S
RuntimeDirectory=$RUN
KeysDirectory=$T/keys
Verity=userspace
[Boot]
Tries=2
[Network]
Retries=0
ConnectTimeout=5s
[Agent]
Channel=$H/stable.json
MachineID=machine-reboot-1
HealthCheck=/bin/true
HealthTimeout=10s
CONF

st() { jq -r "$1" "$S/state.json" 2>/dev/null || echo "(no state)"; }
ast() { jq -r "$1" "$S/agent.json" 2>/dev/null || echo "(no agent.json)"; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi; }
# rc_is NAME CODE: the last agent run exited CODE (its output shown if not).
rc_is() { if [ "$RC" = "$2" ]; then ok "$1 (exit $2)"; else not_ok "$1: exit $RC, expected $2: $OUT"; fi; }
says() { if grep -qF -- "$2" <<<"$OUT"; then ok "$1"; else not_ok "$1: no '$2' in: $OUT"; fi; }
channel() { # channel SERIAL VERSION: the signed document, the whole fleet at once
        "$OSUPDATE" channel create --key "$T/k1.pem" --name stable --serial "$1" --version "$2" \
                --bundle "$H/v$2.osup" --bundle-file "$T/v$2.osup" --percent 100 -o "$T/www/stable.json" >/dev/null
}
agent() { # agent: one poll, as a timer runs it; RC and OUT set
        RC=0
        OUT=$(timeout -s KILL 120 "$OSUPDATE" agent --once --config "$CONF" 2>&1) || RC=$?
}
gets() { requests_for "/v$1.osup" | grep -c ' 20[06] ' || true; }
history_of() { ast "[.history[] | select(.version == \"$1\") | .result] | join(\",\")"; }
# waiting NAME: a poll while the boot has not decided: exit 0, still rebooting, nothing reported.
waiting() {
        local v=$1 n
        n=$(ast '.history | length')
        agent
        rc_is "$2: agent" 0
        is "$2: still phase rebooting" "$(ast .action.phase)" rebooting
        is "$2: nothing reported (history unchanged)" "$(ast '.history | length')" "$n"
        is "$2: no result for $v yet" "$(history_of "$v")" ""
}

# --- v1 boots from slot a ------------------------------------------------------------------------------
reboot
is "boot: v1 from slot a" "$(usr_version) $(jq -r .slot "$RUN/booted.json")" "1 a"

# --- v2 has the modules: live, healthy, success --------------------------------------------------------
channel 1 2
agent
rc_is "v2: agent" 0
is "v2: live" "$(usr_version)" 2
is "v2: success" "$(history_of 2)" success
is "v2: its slot is marked good" "$(st '.slots[.active].good')" true
slot2=$(st .active)
# The machine restarts on v2 (the slot v1 booted from stays pinned until then): nothing to report.
reboot
is "v2 boots from slot $slot2" "$(usr_version) $(jq -r .slot "$RUN/booted.json")" "2 $slot2"
agent
rc_is "v2 booted: agent" 0
grep -q "up to date" <<<"$OUT" && ok "v2 booted: up to date" || not_ok "v2 booted: $OUT"
is "v2 booted: reported once" "$(history_of 2)" success

# --- v3 lacks the modules: staged, the next boot decides -----------------------------------------------
channel 2 3
agent
rc_is "v3: agent (staged is not a failure)" 0
says "v3: says it is staged" "Staged 3 for the next boot"
grep -qi "next boot and its mark-good decide" <<<"$OUT" && ok "v3: says the next boot decides" || not_ok "v3: $OUT"
is "v3: phase rebooting" "$(ast .action.phase)" rebooting
is "v3: /usr still v2" "$(usr_version)" 2
slot3=$(st .next_boot)
[ "$slot3" != "$slot2" ] && [ "$(st ".slots.$slot3.version")" = 3 ] && [ "$(st .staged)" = "$slot3" ] &&
        ok "v3: slot $slot3 is staged, the next boot" || not_ok "v3: state $(cat "$S/state.json")"
status=$("$OSUPDATE" status --config "$CONF" 2>&1)
grep -Eq "^Action: .*version 3, phase rebooting" <<<"$status" && ok "status: the action waits in phase rebooting" ||
        not_ok "status: $status"
n3=$(gets 3)
waiting 3 "v3, polling again before the boot"
is "v3, polling again: not downloaded again" "$(gets 3)" "$n3"

# --- two trial boots of v3 without mark-good: the agent waits ----------------------------------------
reboot
is "trial boot 1: v3" "$(usr_version)" 3
waiting 3 "trial boot 1"
reboot
is "trial boot 2: v3" "$(usr_version)" 3
waiting 3 "trial boot 2"
is "trial boot 2: v3 is not marked good" "$(st ".slots.$slot3.good")" false
# The third boot: v3 used its tries: back to v2.
reboot
is "boot 3: falls back to v2" "$(usr_version) $(jq -r .slot "$RUN/booted.json")" "2 $slot2"
grep -q "used all its trial boots" <<<"$OUT" && ok "boot 3: the stage says why" || not_ok "boot 3: $OUT"
agent
rc_is "after the fallback: agent (the version failed)" 45
is "after the fallback: result failure" "$(history_of 3)" failure
is "after the fallback: 3 given up" "$(ast '.failed_versions | index("3") != null')" true
is "after the fallback: no action" "$(ast '.action.phase // "none"')" none
is "after the fallback: the accepted serial stays 2" "$(ast .channel.serial)" 2
agent
rc_is "after the fallback, again" 0
grep -q "failed here before" <<<"$OUT" && ok "after the fallback: 3 is not retried automatically" || not_ok "again: $OUT"
is "after the fallback, again: reported once" "$(history_of 3)" failure
is "after the fallback, again: not downloaded again" "$(gets 3)" "$n3"

# --- v4, staged, booted, then mark-good: success, once -----------------------------------------------
channel 3 4
agent
rc_is "v4: agent" 0
is "v4: phase rebooting" "$(ast .action.phase)" rebooting
is "v4: /usr still v2" "$(usr_version)" 2
reboot
is "v4 boots" "$(usr_version)" 4
waiting 4 "v4 booted, before mark-good"
status=$("$OSUPDATE" status --config "$CONF" 2>&1)
grep -Eq "^Action: .*version 4, phase rebooting" <<<"$status" && ok "status: v4 waits in phase rebooting" ||
        not_ok "status: $status"
expect "mark-good (osupdate-mark-good.service)" 0 "" "$OSUPDATE" mark-good --config "$CONF"
agent
rc_is "v4, after mark-good: agent" 0
is "v4: success" "$(history_of 4)" success
is "v4: no action" "$(ast '.action.phase // "none"')" none
agent
rc_is "v4, polling again" 0
grep -q "up to date" <<<"$OUT" && ok "v4, polling again: up to date" || not_ok "v4 again: $OUT"
is "v4: reported exactly once" "$(history_of 4)" success
is "the whole story in the history" "$(ast '[.history[] | .version + ":" + .result] | join(" ")')" \
        "2:success 3:failure 4:success"
finish
