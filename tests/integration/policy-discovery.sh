#!/bin/bash
# Discovery of every mount namespace and the policy that matches it (issue 5, first part):
# services (slaves), a nested service, a container (own peer group), their versions, and the
# policy each gets from policy.d rules matched by executable and Container=.
. "$(dirname "$0")/../lib/ns.sh"

setup_target
make_bundle 2
mkdir -p "$T/bin" "$T/policy.d"
cp "$WATCHER" "$T/bin/web-watcher"
cp "$WATCHER" "$T/bin/db-watcher"
printf '[Match]\nExecutable=*/web-*\n[Policy]\nMode=defer\nDeadline=30min\nNotify=SIGHUP\n' >"$T/policy.d/10-web.conf"
printf '[Match]\nExecutable=*/db-*\n[Policy]\nMode=skip\n' >"$T/policy.d/20-db.conf"
printf '[Match]\nContainer=yes\n[Policy]\nMode=skip\n' >"$T/policy.d/30-containers.conf"

WATCHER="$T/bin/web-watcher" spawn_ns service web
WATCHER="$T/bin/db-watcher" spawn_ns service db
spawn_ns service plain
sleep 0.3
spawn_ns service nested "$(pid_of plain)"
WATCHER="$T/bin/web-watcher" spawn_ns service nesteddefer "$(pid_of plain)"
spawn_ns container ctr
sleep 0.5
osup apply "$T/v2.osup" >/dev/null && ok "v2 applied" || not_ok "apply failed"

json=$(osup status --json)
# The namespace of a watcher: the entry whose processes include it (its pid may not be the one listed).
ns_of() {
        local ino
        ino=$(stat -L -c %i "/proc/$(pid_of "$1")/ns/mnt")
        jq -c --argjson i "$ino" '.namespaces[] | select(.inode == $i)' <<<"$json"
}
check_ns() { # check_ns NAME RELATION VERSION POLICY
        local e
        e=$(ns_of "$1")
        if [ "$(jq -r .relation <<<"$e")" = "$2" ] && [ "$(jq -r .version <<<"$e")" = "$3" ] && [ "$(jq -r .policy <<<"$e")" = "$4" ]; then
                ok "$1: $2, sees v$3, policy $4"
        else
                not_ok "$1: expected $2 v$3 $4, got $e"
        fi
}
host=$(jq -c '.namespaces[0]' <<<"$json")
[ "$(jq -r .relation <<<"$host")" = host ] && [ "$(jq -r .version <<<"$host")" = 2 ] && [ "$(jq -r .policy <<<"$host")" = force ] &&
        ok "host: listed first, sees v2, force" || not_ok "host: $host"
# Defer and skip namespaces stay on v1 (the new image waits beneath their old top).
check_ns web slave 1 defer
check_ns db slave 1 skip
check_ns plain slave 2 force
check_ns nested slave 2 force
# A defer service nested in a forced one switches with its parent (unmount propagation follows
# the parent), and status says so instead of claiming a deferral.
check_ns nesteddefer slave 2 force
e=$(ns_of nesteddefer)
[ "$(jq -r .follows_parent <<<"$e")" = true ] && [ "$(jq -r .parent_pid <<<"$e")" = "$(jq -r .pid <<<"$(ns_of plain)")" ] &&
        ok "nesteddefer: follows its parent service" || not_ok "nesteddefer: $e"
check_ns ctr own-group 1 skip
e=$(ns_of web)
[ "$(jq -r .deadline_sec <<<"$e")" = 1800 ] && [ "$(jq -r .rule <<<"$e")" = 10-web.conf ] &&
        ok "web: deadline 30min from 10-web.conf" || not_ok "web: $e"
text=$(osup status)
grep -q "own-group" <<<"$text" && grep -q "defer" <<<"$text" && ok "status lists namespaces with relation and policy" ||
        not_ok "status: $text"
finish
