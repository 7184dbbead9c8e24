#!/bin/bash
# Live apply in the seed's namespace layout: host; three services (slaves of the host, shared in
# their own peer groups), one service nested in another, one container with its own peer group.
# A watcher in every namespace reads the version file under the target the whole time.
# v1 -> v2 -> v3 -> v4: host and services end at v4 and never saw a step back or an error, the
# container keeps v1, exactly one mount is left at the target everywhere; then 20 more applies
# leak no loop device and no mount.
. "$(dirname "$0")/../lib/ns.sh"

setup_target
for v in 2 3 4; do make_bundle "$v"; done

spawn_ns host host
spawn_ns service svc1
spawn_ns service svc2
spawn_ns service svc3
sleep 0.3
spawn_ns service nested "$(pid_of svc1)"
spawn_ns container ctr
sleep 0.5
all=(host svc1 svc2 svc3 nested ctr)
for n in "${all[@]}"; do
        [ "$(version_in "$n")" = 1 ] || not_ok "$n does not start at version 1"
done

for v in 2 3 4; do
        out=$(osup apply "$T/v$v.osup" 2>&1) && ok "apply v$v: $out" || not_ok "apply v$v failed: $out"
        sleep 0.3
        for n in host svc1 svc2 svc3 nested; do
                got=$(version_in "$n")
                [ "$got" = "$v" ] || not_ok "$n shows version $got after applying v$v"
                [ "$(mounts_in "$n")" = 1 ] || not_ok "$n has $(mounts_in "$n") mounts at the target after v$v"
        done
        [ "$(version_in ctr)" = 1 ] || not_ok "the container changed to $(version_in ctr)"
        [ "$(mounts_in ctr)" = 1 ] || not_ok "the container has $(mounts_in ctr) mounts at the target"
        ok "after v$v: host and services at v$v, one mount each; container still at v1"
done

stop_watchers "${all[@]}"
for n in "${all[@]}"; do
        echo "# $n: $(cat "$T/report.$n")"
        reads=$(report_field "$n" reads) errors=$(report_field "$n" errors) empty=$(report_field "$n" empty)
        back=$(report_field "$n" backsteps) last=$(report_field "$n" last)
        want=4
        [ "$n" = ctr ] && want=1
        if [ "$errors" = 0 ] && [ "$empty" = 0 ] && [ "$back" = 0 ] && [ "$last" = "$want" ] && [ "$reads" -gt 1000 ]; then
                ok "watcher $n: $reads reads, no error, no step back, ended at v$want"
        else
                not_ok "watcher $n: $(cat "$T/report.$n")"
        fi
done

json=$(osup status --json)
# v2 went to slot a, v3 to b, v4 to a again.
[ "$(jq -r .live_version <<<"$json")" = 4 ] && [ "$(jq -r .active <<<"$json")" = "a" ] &&
        [ "$(jq -r .slots.a.version <<<"$json")" = 4 ] && [ "$(jq -r .slots.b.version <<<"$json")" = 3 ] &&
        [ "$(jq -r .boot_tries <<<"$json")" = 3 ] && [ "$(jq -r .degraded <<<"$json")" = true ] &&
        [ "$(jq -r .kernel.mount_beneath <<<"$json")" = true ] &&
        ok "status --json: live 4, slot a active, b holds 3, 3 boot tries, degraded verity, mount-beneath" ||
        not_ok "status --json: $json"

# 20 more applies: no loop device or mount accumulates.
for v in $(seq 5 24); do
        make_bundle "$v"
        osup apply "$T/v$v.osup" >/dev/null 2>"$T/err" || not_ok "apply v$v: $(cat "$T/err")"
        rm -f "$T/v$v.osup"
        rm -rf "$T/tree$v"
done
[ "$(cat "$TARGET/version")" = 24 ] && ok "20 more applies reach v24" || not_ok "live version $(cat "$TARGET/version")"
m=$(awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo | wc -l)
[ "$m" = 1 ] && ok "one mount at the target after 23 applies" || not_ok "$m mounts at the target"
slot_loops=$(loops_under "$T/state")
[ "$slot_loops" = 1 ] && ok "one loop device for the slots (the live image)" || not_ok "$slot_loops loop devices on slots"
leftover=$(find "$T/state/slots" -name '*.partial' | wc -l)
[ "$leftover" = 0 ] && ok "no partial files left in the slots" || not_ok "$leftover partial files"

finish
