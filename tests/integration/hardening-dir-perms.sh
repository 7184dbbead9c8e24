#!/bin/bash
# StateDirectory, its slots/ and slot directories, and RuntimeDirectory must belong to the user
# osupdate runs as (root) and be writable by it alone: one that another user owns or may write
# to is refused (exit 36) with a message naming path, owner and mode, and nothing changes.
# Otherwise that user could swap a verified image, state.json or the lock under osupdate.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/hardening-lib.sh"

setup_target
for v in 2 3 4; do make_bundle "$v"; done
osup apply "$T/v2.osup" >/dev/null && osup apply "$T/v3.osup" >/dev/null && ok "v2 (slot a) and v3 (slot b) applied" ||
        not_ok "applies failed"

# refused NAME REGEX CMD…: exit 36 and REGEX; StateDirectory and the live /usr unchanged.
refused() {
        local name=$1 regex=$2 before live
        shift 2
        before=$(snapshot "$T/state")
        live=$(cat "$TARGET/version")
        expect "$name" 36 "$regex" "$@"
        [ "$(snapshot "$T/state")" = "$before" ] && [ "$(cat "$TARGET/version")" = "$live" ] &&
                ok "$name: nothing changed" || not_ok "$name: StateDirectory or /usr changed"
}

chmod 0777 "$T/state"
refused "StateDirectory mode 0777: apply" "$T/state is owned by uid 0 with mode 0777" osup apply "$T/v4.osup"
refused "StateDirectory mode 0777: gc" "$T/state is owned by uid 0 with mode 0777" osup gc
refused "StateDirectory mode 0777: status" "$T/state is owned by uid 0 with mode 0777" osup status
chmod 0775 "$T/state"
refused "StateDirectory group-writable" "$T/state is owned by uid 0 with mode 0775" osup apply "$T/v4.osup"
chmod 0755 "$T/state"
chown nobody "$T/state"
refused "StateDirectory owned by nobody" "$T/state is owned by uid 65534 with mode 0755" osup apply "$T/v4.osup"
chown root "$T/state"

chmod 0777 "$T/state/slots"
refused "slots/ mode 0777" "$T/state/slots is owned by uid 0 with mode 0777" osup apply "$T/v4.osup"
chmod 0755 "$T/state/slots"
# Slot a holds v2, the rollback target: rollback opens it.
chown nobody "$T/state/slots/a"
refused "a slot owned by nobody" "$T/state/slots/a is owned by uid 65534" osup rollback
chown root "$T/state/slots/a"

# WIRING (updater/apply.c update_lock_full): RuntimeDirectory is checked before the lock is taken.
chmod 0777 "$T/run"
refused "RuntimeDirectory mode 0777" "$T/run is owned by uid 0 with mode 0777" osup apply "$T/v4.osup"
chmod 0755 "$T/run"
chown nobody "$T/run"
refused "RuntimeDirectory owned by nobody" "$T/run is owned by uid 65534" osup apply "$T/v4.osup"
chown root "$T/run"

expect "with owner and modes restored, apply works" 0 "3 -> 4 in slot a" osup apply "$T/v4.osup"
finish
