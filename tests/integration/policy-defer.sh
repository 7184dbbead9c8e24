#!/bin/bash
# The policy engine in the seed's layout, a watcher in every namespace: two force services, two
# defer services (notified by SIGHUP), a service nested in a force service, one container forced
# (a clone tucked beneath from inside it) and one skipped. Then: release --check, release from
# inside, release --pid, a release with nothing pending, a deadline that forces, a critical update
# overriding defer, and a second update while a namespace still defers the first. No watcher may
# ever see a step back or an error.
. "$(dirname "$0")/../lib/ns.sh"

setup_target
for v in 2 3 4; do make_bundle "$v"; done
make_bundle 5 --critical
mkdir -p "$T/bin" "$T/policy.d"
for role in force defer ctrforce ctrskip; do cp "$WATCHER" "$T/bin/$role-watcher"; done
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nNotify=SIGHUP\n' >"$T/policy.d/10-defer.conf"
printf '[Match]\nContainer=yes\nExecutable=*/ctrforce-*\n[Policy]\nMode=force\n' >"$T/policy.d/20-containers.conf"

WATCHER="$T/bin/force-watcher" spawn_ns service force1
WATCHER="$T/bin/force-watcher" spawn_ns service force2
WATCHER="$T/bin/defer-watcher" spawn_ns service defer1
WATCHER="$T/bin/defer-watcher" spawn_ns service defer2
sleep 0.3
WATCHER="$T/bin/force-watcher" spawn_ns service nested "$(pid_of force1)"
WATCHER="$T/bin/ctrforce-watcher" spawn_ns container ctrforce
WATCHER="$T/bin/ctrskip-watcher" spawn_ns container ctrskip
spawn_ns host host
sleep 0.5
all=(host force1 force2 defer1 defer2 nested ctrforce ctrskip)

expect_versions() { # expect_versions WHAT NAME=V…
        local what=$1 pair name want got bad=""
        shift
        for pair in "$@"; do
                name=${pair%=*} want=${pair#*=}
                got=$(version_in "$name")
                [ "$got" = "$want" ] || bad+=" $name=$got(want $want)"
        done
        [ -z "$bad" ] && ok "$what: $*" || not_ok "$what:$bad"
}

expect "apply v2" 0 "1 -> 2" osup apply "$T/v2.osup"
sleep 0.2
expect_versions "after v2" host=2 force1=2 force2=2 nested=2 ctrforce=2 defer1=1 defer2=1 ctrskip=1
[ "$(mounts_in force1)" = 1 ] && [ "$(mounts_in ctrforce)" = 1 ] && [ "$(mounts_in defer1)" = 2 ] &&
        ok "force namespaces keep one mount, defer ones the old top over the new image" ||
        not_ok "mounts: force1 $(mounts_in force1) ctrforce $(mounts_in ctrforce) defer1 $(mounts_in defer1)"

out=$(in_ns defer1 "$OSUPDATE" release --check --config "$CONF") && rc=0 || rc=$?
[ "$rc" = 0 ] && [ "$(jq -r .pending <<<"$out")" = true ] && [ "$(jq -r .version <<<"$out")" = 2 ] &&
        ok "release --check inside defer1: pending v2 (exit 0)" || not_ok "release --check: exit $rc $out"
out=$(in_ns force1 "$OSUPDATE" release --check --config "$CONF") && rc=0 || rc=$?
[ "$rc" = 40 ] && [ "$(jq -r .pending <<<"$out")" = false ] && ok "release --check in a force namespace: nothing pending (exit 40)" ||
        not_ok "release --check force1: exit $rc $out"

expect "release from inside defer1" 0 "Released" in_ns defer1 "$OSUPDATE" release --config "$CONF"
expect_versions "after defer1's release" defer1=2 defer2=1 force1=2
before=$(in_ns defer1 awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo)
expect "a second release changes nothing" 40 "Nothing pending" in_ns defer1 "$OSUPDATE" release --config "$CONF"
[ "$(in_ns defer1 awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo)" = "$before" ] && ok "defer1's mounts unchanged" ||
        not_ok "the second release changed mounts"
expect "release --pid for defer2 from the host" 0 "Released" osup release --pid "$(pid_of defer2)"
expect_versions "after all releases" defer1=2 defer2=2 ctrskip=1

# A deadline forces a deferral without anyone releasing (a detached timer runs release --expired).
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=6s\n' >"$T/policy.d/10-defer.conf"
expect "apply v3 with a 6s deadline" 0 "2 -> 3" osup apply "$T/v3.osup"
expect_versions "right after v3" force1=3 defer1=2 defer2=2
sleep 8
expect_versions "after the deadline" defer1=3 defer2=3
[ "$(jq '.pending | length' "$T/run/pending.json")" = 0 ] && ok "no deferral left pending" || not_ok "$(cat "$T/run/pending.json")"

# A second update while a namespace still defers the first: it ends on the newest, never older.
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\n' >"$T/policy.d/10-defer.conf"
expect "apply v4 (deferred)" 0 "3 -> 4" osup apply "$T/v4.osup"
expect "apply v5, critical: overrides the deferrals (and says which)" 0 "Critical update: namespace of pid [0-9]+ \\(rule 10-defer.conf\\) is switched now" osup apply "$T/v5.osup"
expect_versions "after the critical v5" host=5 force1=5 defer1=5 defer2=5 nested=5 ctrforce=5 ctrskip=1

stop_watchers "${all[@]}"
for n in "${all[@]}"; do
        echo "# $n: $(cat "$T/report.$n")"
        if [ "$(report_field "$n" errors)" = 0 ] && [ "$(report_field "$n" empty)" = 0 ] && [ "$(report_field "$n" backsteps)" = 0 ]; then
                ok "watcher $n: no error, no step back ($(report_field "$n" seen))"
        else
                not_ok "watcher $n: $(cat "$T/report.$n")"
        fi
done
[ "$(report_field defer1 notified)" -ge 1 ] && [ "$(report_field force1 notified)" = 0 ] &&
        ok "defer services were notified by SIGHUP, force ones not" ||
        not_ok "notified: defer1 $(report_field defer1 notified), force1 $(report_field force1 notified)"
finish
