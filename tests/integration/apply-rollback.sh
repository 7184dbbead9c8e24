#!/bin/bash
# rollback (the one deliberate step back, live and without a moment with neither image),
# mark-good, gc, and configuration drop-ins.
. "$(dirname "$0")/../lib/ns.sh"

setup_target
for v in 2 3 4; do make_bundle "$v"; done
osup apply "$T/v2.osup" >/dev/null && osup apply "$T/v3.osup" >/dev/null && ok "v2 (slot a) and v3 (slot b) applied" ||
        not_ok "applies failed"

spawn_ns host host
spawn_ns service svc
spawn_ns service nested "$(pid_of svc)"
sleep 0.5

expect "rollback" 0 "Rolled back live: 3 -> 2 in slot a" osup rollback
sleep 0.3
for n in host svc nested; do
        [ "$(version_in "$n")" = 2 ] && [ "$(mounts_in "$n")" = 1 ] && ok "$n is at v2 with one mount" ||
                not_ok "$n: version $(version_in "$n"), $(mounts_in "$n") mounts"
done
st=$(cat "$T/state/state.json")
[ "$(jq -r .active <<<"$st")" = a ] && [ "$(jq -r .next_boot <<<"$st")" = a ] && [ "$(jq -r .slots.b.version <<<"$st")" = 3 ] &&
        ok "state: slot a active and next boot, slot b still holds v3" || not_ok "state after rollback: $st"

stop_watchers host svc nested
for n in host svc nested; do
        echo "# $n: $(cat "$T/report.$n")"
        # One deliberate step back (3 -> 2), never an error or an empty read.
        [ "$(report_field "$n" errors)" = 0 ] && [ "$(report_field "$n" empty)" = 0 ] &&
                [ "$(report_field "$n" backsteps)" = 1 ] && [ "$(report_field "$n" seen)" = "3,2" ] &&
                ok "watcher $n saw 3 then 2, no error, no empty read" || not_ok "watcher $n: $(cat "$T/report.$n")"
done

expect "rollback again goes forward to the other slot" 0 "Rolled back live: 2 -> 3 in slot b" osup rollback
osup rollback >/dev/null

expect "mark-good" 0 "Marked the active slot good" osup mark-good
st=$(cat "$T/state/state.json")
[ "$(jq -r .good <<<"$st")" = true ] && [ "$(jq -r .boot_tries <<<"$st")" = null ] &&
        ok "mark-good: good, no boot tries pending" || not_ok "state after mark-good: $st"

expect "gc frees the unused slot" 0 "Freed 1 slot" osup gc
st=$(cat "$T/state/state.json")
[ "$(jq -r .slots.b.state <<<"$st")" = empty ] && [ -z "$(ls -A "$T/state/slots/b")" ] &&
        [ "$(jq -r .slots.a.state <<<"$st")" = ready ] && [ "$(cat "$TARGET/version")" = 2 ] &&
        ok "gc: slot b emptied, slot a and the live v2 kept" || not_ok "state after gc: $st"
expect "rollback with no other slot" 29 "no other complete slot" osup rollback
expect "gc with nothing to free" 0 "Freed 0 slot" osup gc
expect "apply after gc" 0 "2 -> 4 in slot b" osup apply "$T/v4.osup"

# Drop-ins: $CONF.d/*.conf, in lexical order, override the file.
mkdir "$CONF.d"
printf '[Update]\nVerity=userspace\n' >"$CONF.d/10-first.conf"
printf '[Update]\nVerity=kernel\n' >"$CONF.d/20-second.conf"
json=$(osup status --json)
if [ ! -e /dev/mapper/control ]; then
        make_bundle 5
        expect "a drop-in's setting applies (Verity=kernel, last wins)" 28 "no device-mapper" osup apply "$T/v5.osup"
fi
printf '[Update]\nVerity=sometimes\n' >"$CONF.d/30-bad.conf"
expect "a bad drop-in names its file and line" 4 "30-bad.conf:2: invalid value for Verity=" osup status
rm -r "$CONF.d"
finish
