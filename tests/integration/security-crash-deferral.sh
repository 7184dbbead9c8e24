#!/bin/bash
# Finding: one kill wedges a deferral. apply removes the old tops (host, force namespaces) and only
# then writes pending.json; a kill -9 in between leaves a defer namespace on its old /usr with no
# record: release --check says nothing is pending, no deadline will ever move it, and the slot it
# holds stays busy for later updates.
#   (1) kill at the failpoint OSUPDATE_FAILPOINT=after-switch (after the old tops are removed in
#       the force namespaces, before the deferrals are recorded; if the binary has no such
#       failpoint the apply simply succeeds and the same checks apply);
#   (2) kill -9 the moment the host shows the new version (its old top is gone), without a
#       failpoint; the defer namespace was released first, so no older record can stand in.
#       Up to three trials (a kill may land after the record was written); Notify=SIGHUP is set,
#       as a real service would have it.
# Safe, after each: the defer namespace either shows the live version or `release --check` inside
# it reports pending (exit 0) with a deadline; the force namespace shows the live version (or,
# right after the kill, still the one it had); the next apply succeeds (exit 0) and leaves both
# in order again; no watcher sees an error or a step back.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/attack.sh"

setup_target
for v in $(seq 2 9); do make_bundle "$v"; done
mkdir -p "$T/bin" "$T/policy.d"
cp "$WATCHER" "$T/bin/defer-watcher"
cp "$WATCHER" "$T/bin/force-watcher"
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=1h\nNotify=SIGHUP\n' >"$T/policy.d/10-defer.conf"
WATCHER="$T/bin/defer-watcher" spawn_ns service defer
WATCHER="$T/bin/force-watcher" spawn_ns service force
spawn_ns host host
sleep 0.5

# no_one_left_behind WHAT [PREV]: the force namespace on the live version (right after a crash,
# PREV, the version it had before, is accepted too: the next command finishes the switch); the
# defer namespace on it, or with its deferral on record (pending, with a deadline).
no_one_left_behind() {
        local what=$1 prev=${2:-} live d f
        live=$(cat "$TARGET/version")
        f=$(version_in force)
        if [ "$f" = "$live" ]; then
                ok "$what: the force namespace shows the live $live"
        elif [ -n "$prev" ] && [ "$f" = "$prev" ]; then
                ok "$what: the force namespace still shows $prev (live $live): the crash came before its switch"
        else
                not_ok "$what: the force namespace shows $f, the host $live"
        fi
        d=$(version_in defer)
        if [ "$d" = "$live" ]; then
                ok "$what: the defer namespace moved on to $live"
                return
        fi
        release_check defer
        if [ "$RC" = 0 ] && [ "$(jq -r .pending <<<"$OUT" 2>/dev/null)" = true ] &&
                [ "$(jq -r .deadline <<<"$OUT" 2>/dev/null)" -gt 0 ] 2>/dev/null; then
                ok "$what: the defer namespace stays on $d with the update pending ($OUT)"
        else
                not_ok "$what: the defer namespace is left on $d (live $live) with no deferral on record: release --check exit $RC: $OUT"
        fi
}

# (1) the failpoint
rc=0
OSUPDATE_FAILPOINT=after-switch osup_t 30 apply "$T/v2.osup" >/dev/null 2>&1 || rc=$?
echo "# apply v2 with OSUPDATE_FAILPOINT=after-switch: exit $rc (137: killed at the failpoint, 0: no such failpoint)"
{ [ "$rc" = 137 ] || [ "$rc" = 0 ]; } && ok "(1) apply v2 with the failpoint: exit $rc" || not_ok "(1) apply v2 with the failpoint: exit $rc"
sleep 0.3
no_one_left_behind "(1) after the kill at after-switch" 1
expect "(1) the next apply (v3) succeeds" 0 "-> 3" osup_t 30 apply "$T/v3.osup"
no_one_left_behind "(1) after v3"

# (2) kill -9 as soon as the host shows the new version; a few trials, since without a failpoint
# the kill lands wherever the apply happens to be (the first trial that fails ends them).
for n in 4 6 8; do
        failed_before=$FAILED
        osup_t 20 release --pid "$(pid_of defer)" >/dev/null 2>&1 || true
        release_check defer
        [ "$RC" = 40 ] && ok "(2) v$n: nothing pending for the defer namespace before the trial" ||
                not_ok "(2) v$n: release --check before the trial: exit $RC: $OUT"
        prev=$(cat "$TARGET/version")
        "$OSUPDATE" apply "$T/v$n.osup" --config "$CONF" >"$T/apply$n.out" 2>&1 &
        pid=$!
        v=
        while kill -0 "$pid" 2>/dev/null; do
                read -r v <"$TARGET/version" || true
                [ "$v" = "$n" ] && break
        done
        kill -KILL "$pid" 2>/dev/null || true
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        echo "# apply v$n killed when the host showed ${v:-?}: exit $rc ($(tr '\n' ' ' <"$T/apply$n.out"))"
        sleep 0.3
        no_one_left_behind "(2) v$n: after the kill" "$prev"
        expect "(2) v$n: the next apply (v$((n + 1))) succeeds" 0 "-> $((n + 1))" osup_t 30 apply "$T/v$((n + 1)).osup"
        no_one_left_behind "(2) v$n: after v$((n + 1))"
        [ "$FAILED" = "$failed_before" ] || break
done

check_watchers host defer force
finish
