#!/bin/bash
# Crash safety of apply: a kill -9 at every failpoint (after the slot write, after the loop attach,
# after verity, before the state write, after the tuck, after the state write) and at RANDOM_TRIALS
# random moments (15 by default, 5 under ASan; each run draws new ones). After each crash: the live version is the old or the new one, state.json parses and
# agrees with what is mounted, the image the machine booted with is untouched, and the next
# apply succeeds. Watchers in the host and in a service namespace see no error and no step back.
. "$(dirname "$0")/../lib/ns.sh"

# Random kills here: 15 (with policies, apply-crash-policy kills at 20 random moments more).
RANDOM_TRIALS=${RANDOM_TRIALS:-15}
setup_target
sha_booted=$(sha256sum <"$T/v1.erofs")
spawn_ns host host
spawn_ns service svc
sleep 0.3

# check_after_crash OLD NEW WHAT
check_after_crash() {
        local old=$1 new=$2 what=$3 live state active switching av sv n
        live=$(cat "$TARGET/version" 2>/dev/null || echo none)
        if [ "$live" != "$old" ] && [ "$live" != "$new" ]; then
                not_ok "$what: live version $live is neither $old nor $new"
                return
        fi
        if ! state=$(jq -c . "$T/state/state.json" 2>/dev/null); then
                not_ok "$what: state.json does not parse"
                return
        fi
        active=$(jq -r .active <<<"$state")
        switching=$(jq -r .switching <<<"$state")
        av=$(jq -r --arg s "$active" '.slots[$s].version // "1"' <<<"$state")
        [ "$active" = null ] && av=1
        n=$(awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo | wc -l)
        if [ "$switching" = null ]; then
                if [ "$live" != "$av" ] || [ "$n" != 1 ]; then
                        not_ok "$what: state says slot $active ($av) is live, $live is mounted ($n mounts)"
                        return
                fi
        else
                sv=$(jq -r --arg s "$switching" '.slots[$s].version' <<<"$state")
                if { [ "$live" != "$av" ] && [ "$live" != "$sv" ]; } || [ "$n" -gt 2 ]; then
                        not_ok "$what: interrupted switch $active->$switching ($av->$sv) but $live is live ($n mounts)"
                        return
                fi
        fi
        if [ "$(sha256sum <"$T/v1.erofs")" != "$sha_booted" ]; then
                not_ok "$what: the booted image changed"
                return
        fi
        ok "$what: live $live, state consistent (active $active, switching $switching)"
}

# One trial: crash while applying OLD+1, then OLD+2 must apply.
trial() {
        local old=$1 what=$2 failpoint=$3 delay=${4:-} new=$(($1 + 1)) next=$(($1 + 2)) out
        make_bundle "$new"
        make_bundle "$next"
        if [ -n "$failpoint" ]; then
                OSUPDATE_FAILPOINT=$failpoint osup apply "$T/v$new.osup" >/dev/null 2>&1 && rc=0 || rc=$?
                [ "$rc" = 137 ] || not_ok "$what: failpoint $failpoint did not kill apply (exit $rc)"
        else
                # The binary itself in the background (not a function: that would be a subshell, and the
                # kill would miss the real process).
                "$OSUPDATE" apply "$T/v$new.osup" --config "$CONF" >/dev/null 2>&1 &
                local pid=$!
                sleep "$delay"
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        fi
        check_after_crash "$old" "$new" "$what"
        if out=$(osup apply "$T/v$next.osup" 2>&1) && [ "$(cat "$TARGET/version")" = "$next" ]; then
                ok "$what: the next apply succeeds ($next live)"
        else
                not_ok "$what: the next apply failed: $out"
        fi
        rm -rf "$T/tree$new" "$T/tree$next" "$T/v$new.osup" "$T/v$next.osup"
}

live=1
for fp in after-slot-write after-loop-attach after-verity before-state-write after-tuck after-state-write; do
        trial "$live" "failpoint $fp" "$fp"
        live=$((live + 2))
done

# How long one apply takes here, to spread the random kills over it.
make_bundle $((live + 1))
start=$(date +%s%N)
osup apply "$T/v$((live + 1)).osup" >/dev/null
dur_ms=$((($(date +%s%N) - start) / 1000000))
live=$((live + 1))
echo "# one apply takes ${dur_ms} ms"
for i in $(seq "$RANDOM_TRIALS"); do
        delay=$(awk -v r="$RANDOM" -v d="$dur_ms" 'BEGIN { printf "%.3f", (r / 32767) * d * 1.2 / 1000 }')
        trial "$live" "random kill $i after ${delay}s" "" "$delay"
        live=$((live + 2))
done

stop_watchers host svc
for n in host svc; do
        echo "# $n: $(cat "$T/report.$n")"
        if [ "$(report_field "$n" errors)" = 0 ] && [ "$(report_field "$n" empty)" = 0 ] && [ "$(report_field "$n" backsteps)" = 0 ]; then
                ok "watcher $n: no error and no step back through all crashes"
        else
                not_ok "watcher $n: $(cat "$T/report.$n")"
        fi
done
finish
