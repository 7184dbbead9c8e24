#!/bin/bash
# Crash safety with policies: force, defer and container namespaces present, a kill -9 at every
# failpoint of the policy step (after the deferrals are recorded, after the host's switch, after
# the namespaces switched from inside, after the notifications) and at RANDOM_TRIALS random
# moments of an apply (RANDOM_TRIALS=20 by default: the delays are drawn evenly over 1.2 times one
# measured apply, so they fall about every 6% of it, and each run draws new ones — the suite runs
# often, so the kill points add up over runs; the failpoints pin the steps that matter). After every kill the next command recovers, and then:
#   - every namespace still holding an old image on top (a deferral) has a record with a deadline;
#   - no record lacks a deadline;
#   - the new version is live in the host and every force namespace (it went in, or the next apply puts it there);
# and watchers in every namespace never see an error, an empty read or a step back.
. "$(dirname "$0")/../lib/ns.sh"

RANDOM_TRIALS=${RANDOM_TRIALS:-20}
setup_target
mkdir -p "$T/bin" "$T/policy.d"
for role in force defer ctrforce; do cp "$WATCHER" "$T/bin/$role-watcher"; done
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=1h\nNotify=SIGHUP\n' >"$T/policy.d/10-defer.conf"
printf '[Match]\nContainer=yes\nExecutable=*/ctrforce-*\n[Policy]\nMode=force\n' >"$T/policy.d/20-containers.conf"

WATCHER="$T/bin/force-watcher" spawn_ns service force1
WATCHER="$T/bin/defer-watcher" spawn_ns service defer1
WATCHER="$T/bin/ctrforce-watcher" spawn_ns container ctr
spawn_ns host host
sleep 0.5
all=(host force1 defer1 ctr)

# check_after WHAT: runs the next command (gc: it recovers), then checks the records against what is
# mounted in every namespace: two or more images at the target means a deferral, which must be on
# record with a deadline.
check_after() {
        local what=$1 bad="" n ino records
        # The next state-changing command recovers; gc is the lightest one.
        osup gc >/dev/null 2>&1 || true
        records=$(jq -r '.pending[]? | "\(.inode) \(.deadline)"' "$T/run/pending.json" 2>/dev/null || true)
        for n in "${all[@]}"; do
                [ "$(mounts_in "$n")" -ge 2 ] || continue
                ino=$(stat -L -c %i "/proc/$(pid_of "$n")/ns/mnt")
                grep -q "^$ino [1-9]" <<<"$records" || bad+=" $n: $(mounts_in "$n") images at the target, no record with a deadline"
        done
        grep -q " 0$" <<<"$records" && bad+=" a record without a deadline: $records"
        if [ -z "$bad" ]; then ok "$what: every deferral recorded with a deadline"; else not_ok "$what:$bad"; fi
}

# trial NEW WHAT FAILPOINT [DELAY]: crash while applying NEW; after recovery NEW must be live in
# the host, force1 and ctr — it went in, or the next apply puts it there.
trial() {
        local new=$1 what=$2 failpoint=$3 delay=${4:-} out rc
        make_bundle "$new"
        if [ -n "$failpoint" ]; then
                OSUPDATE_FAILPOINT=$failpoint osup apply "$T/v$new.osup" >/dev/null 2>&1 && rc=0 || rc=$?
                [ "$rc" = 137 ] || not_ok "$what: failpoint $failpoint did not kill apply (exit $rc)"
        else
                "$OSUPDATE" apply "$T/v$new.osup" --config "$CONF" >/dev/null 2>&1 &
                local pid=$!
                sleep "$delay"
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        fi
        check_after "$what"
        out=ok
        # Not live in the host: the switch had not happened, the next apply does it.
        [ "$(cat "$TARGET/version")" = "$new" ] || out=$(osup apply "$T/v$new.osup" 2>&1) || true
        # The host switched (or deferred nothing): force namespaces follow on the next apply at the
        # latest, so a second, forced look is taken after a no-op gc.
        if [ "$(cat "$TARGET/version")" = "$new" ] && [ "$(version_in force1)" = "$new" ] && [ "$(version_in ctr)" = "$new" ]; then
                ok "$what: $new live in host, force1 and ctr after recovery"
        else
                not_ok "$what: $out (host $(cat "$TARGET/version"), force1 $(version_in force1), ctr $(version_in ctr))"
        fi
        # The defer service releases now and then, as a real one would.
        if [ $((RANDOM % 3)) = 0 ]; then in_ns defer1 "$OSUPDATE" release --config "$CONF" >/dev/null 2>&1 || true; fi
        chattr -R -i "$T/tree$new" 2>/dev/null || true
        rm -rf "$T/tree$new" "$T/v$new.osup"
}

live=1
for fp in after-record after-host-switch after-switch after-notify after-tuck before-state-write after-state-write; do
        live=$((live + 1))
        trial "$live" "failpoint $fp" "$fp"
done

live=$((live + 1))
make_bundle "$live"
start=$(date +%s%N)
osup apply "$T/v$live.osup" >/dev/null
dur_ms=$((($(date +%s%N) - start) / 1000000))
echo "# one apply with policies takes ${dur_ms} ms"
for i in $(seq "$RANDOM_TRIALS"); do
        delay=$(awk -v r="$RANDOM" -v d="$dur_ms" 'BEGIN { printf "%.3f", (r / 32767) * d * 1.2 / 1000 }')
        live=$((live + 1))
        trial "$live" "random kill $i after ${delay}s" "" "$delay"
done

stop_watchers "${all[@]}"
for n in "${all[@]}"; do
        echo "# $n: $(cat "$T/report.$n")"
        if [ "$(report_field "$n" errors)" = 0 ] && [ "$(report_field "$n" empty)" = 0 ] && [ "$(report_field "$n" backsteps)" = 0 ]; then
                ok "watcher $n: no error and no step back through all crashes"
        else
                not_ok "watcher $n: $(cat "$T/report.$n")"
        fi
done
finish
