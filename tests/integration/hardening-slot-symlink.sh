#!/bin/bash
# A slot directory (StateDirectory/slots/<a|b>), slots/ itself or StateDirectory that is a
# symbolic link or not a directory is refused (exit 36) with a message naming it, and nothing is
# written or removed through it: an attacker with disk access who points slots/b at /etc must not
# get osupdate to unlink or write files there (apply, fetch, gc and recovery all clear slots).
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/hardening-lib.sh"

setup_target
make_bundle 2
make_bundle 3
osup apply "$T/v2.osup" >/dev/null && ok "v2 applied (slot a)" || not_ok "v2 did not apply"

# A stand-in for /etc, with files named like a slot's, which a clear through the link would remove.
V="$T/victim"
mkdir "$V"
for f in passwd image verity manifest.json manifest.sig head.partial resume.json image.partial; do
        echo "precious $f" >"$V/$f"
done

# snap: snapshot of the victim and of StateDirectory (wherever it is at the moment).
snap() {
        local p a=()
        for p in "$V" "$T/state" "$T/state.real" "$T/slots.real"; do [ -e "$p" ] && a+=("$p"); done
        snapshot "${a[@]}"
}

# refused NAME REGEX CMD…: exit 36 and REGEX; the victim, StateDirectory and /usr unchanged.
refused() {
        local name=$1 regex=$2 before
        shift 2
        before=$(snap)
        expect "$name" 36 "$regex" "$@"
        [ "$(snap)" = "$before" ] && ok "$name: nothing changed" ||
                not_ok "$name: files changed: $(diff <(echo "$before") <(snap) | head -20)"
        [ "$(cat "$TARGET/version")" = 2 ] || not_ok "$name: the live version changed"
}

S="$T/state/slots"
ln -s "$V" "$S/b"
refused "apply into a symlinked slot" "$S/b is a symbolic link" osup apply "$T/v3.osup"
refused "fetch into a symlinked slot" "$S/b is a symbolic link" osup fetch "$T/v3.osup"
refused "gc with a symlinked slot" "$S/b is a symbolic link" osup gc
refused "rollback with a symlinked slot (recovery clears it)" "$S/b is a symbolic link" osup rollback
rm "$S/b"

echo "not a directory" >"$S/b"
refused "a slot that is a regular file" "$S/b is not a directory" osup apply "$T/v3.osup"
rm "$S/b"

mv "$S" "$T/slots.real"
ln -s "$V" "$S"
refused "slots/ a symlink" "$S is a symbolic link" osup apply "$T/v3.osup"
rm "$S"
mv "$T/slots.real" "$S"

mv "$T/state" "$T/state.real"
ln -s "$T/state.real" "$T/state"
refused "StateDirectory a symlink" "$T/state is a symbolic link" osup apply "$T/v3.osup"
rm "$T/state"
mv "$T/state.real" "$T/state"

expect "with the links gone, apply works" 0 "2 -> 3 in slot b" osup apply "$T/v3.osup"
finish
