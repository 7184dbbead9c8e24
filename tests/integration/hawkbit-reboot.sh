#!/bin/bash
# A hawkBit deployment that needs a boot: the verdict comes from the next boot's mark-good, with the
# real boot stage (osupdate-initrd on the host, degraded verity) between the agent's polls (DDI server
# of tests/lib/hawkbit.sh: hawkBit's DDI API, release 1.1.0, --strict). The booted /usr has
# lib/modules/$(uname -r); v2 and v3 lack it, so their switch is staged for the next boot.
#   v2: downloaded, staged → `proceeding` says so, nothing closed; the operator cancels → too late
#   (rejected on cancelAction); two trial boots without mark-good report nothing; the third boot
#   falls back to v1 → one closed/failure saying why;
#   v3: staged; polls before the boot and after it (not yet marked good) report nothing; mark-good →
#   one closed/success.
. "$(dirname "$0")/../lib/ns.sh"

REL=$(uname -r)
make_keys
mkdir -p "$T/tree1/lib/modules/$REL/kernel"
echo module >"$T/tree1/lib/modules/$REL/kernel/x.ko"
for v in 1 2 3; do make_bundle "$v"; done

. "$(dirname "$0")/../lib/machine.sh"
cat >"$CONF" <<CONF
[Boot]
Tries=2
[Agent]
HealthCheck=/bin/true
[Update]
Target=$R/usr
StateDirectory=$S
RuntimeDirectory=$RUN
KeysDirectory=$T/keys
CONF
. "$(dirname "$0")/../lib/hawkbit.sh"

st() { jq -r "$1" "$S/state.json" 2>/dev/null || echo "(no state)"; }
ast() { jq -r "$1" "$S/agent.json" 2>/dev/null || echo "(no agent.json)"; }
# waiting ID NAME: a poll while the boot has not decided: exit 0, phase rebooting, nothing closed.
waiting() {
        agent
        is "$2: exit 0" "$RC" 0
        is "$2: still phase rebooting" "$(ast .action.phase)" rebooting
        is "$2: nothing closed" "$(closed "$1")" ""
}

reboot
is "boot: v1 from slot a" "$(usr_version) $(jq -r .slot "$RUN/booted.json")" "1 a"

# --- v2: staged, cancel too late, the boots give up → one closed/failure ----------------------------------
offer 50 2
agent
is "v2: exit 0 (staged is not a failure)" "$RC" 0
is "v2: phase rebooting" "$(ast .action.phase)" rebooting
is "v2: /usr still v1" "$(usr_version)" 1
is "v2: staged as the next boot" "$(st '.slots[.next_boot].version')" 2
feedback 50 | jq -r '.details[]' | grep -q "staged for the next boot" && ok "v2: proceeding says it is staged" ||
        not_ok "v2: $(feedback 50)"
is "v2: nothing closed" "$(closed 50)" ""
waiting 50 "v2, before the boot"
jq '.action.cancel = true' "$T/ddi.json" >"$T/x" && mv "$T/x" "$T/ddi.json"
agent
is "v2 cancelled: too late (rejected)" "$(cancel_feedback 50 | jq -r .execution)" rejected
is "v2 cancelled: still phase rebooting" "$(ast .action.phase)" rebooting
reboot
is "trial boot 1: v2" "$(usr_version)" 2
waiting 50 "trial boot 1"
reboot
is "trial boot 2: v2" "$(usr_version)" 2
waiting 50 "trial boot 2"
reboot
is "boot 3: falls back to v1" "$(usr_version)" 1
agent
is "after the fallback: exit 45" "$RC" 45
is "after the fallback: one closed/failure" "$(closed 50)" failure
feedback 50 | jq -r 'select(.execution == "closed") | .details[]' | grep -q "passed 2 over" &&
        ok "after the fallback: the feedback says why" || not_ok "after the fallback: $(feedback 50 | tail -n1)"

# --- v3: staged, booted, marked good → one closed/success -------------------------------------------------
offer 51 3
agent
is "v3: exit 0" "$RC" 0
is "v3: phase rebooting" "$(ast .action.phase)" rebooting
is "v3: nothing closed" "$(closed 51)" ""
reboot
is "v3 boots on trial" "$(usr_version)" 3
waiting 51 "v3 booted, not yet marked good"
expect "mark-good (osupdate-mark-good.service)" 0 "" "$OSUPDATE" mark-good --config "$CONF"
agent
is "v3 marked good: exit 0" "$RC" 0
is "v3: one closed/success" "$(closed 51)" success
is "v3: history" "$(ast '.history[-1] | "\(.id) \(.result)"')" "hawkbit/51/3 success"
agent
is "v3, polling again: still one closed" "$(closed 51)" success
is "every request body had exactly the DDI model's fields (--strict)" "$(ddi_rejected)" ""
finish
