#!/bin/bash
# osupdate provision: a bundle written offline into slot a of an image root, with the root's own
# configuration and keys, symlinks resolved inside the root, and every refusal changing nothing.
. "$(dirname "$0")/../lib/lib.sh"

make_keys
make_tree "$T/tree" 1
"$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo --tree "$T/tree" -o "$T/v1.osup" >/dev/null
"$OSUPDATE" bundle create --key "$T/k3.pem" --version 1 --os-id demo --tree "$T/tree" -o "$T/untrusted.osup" >/dev/null
mkdir "$T/members"
tar -C "$T/members" -xf "$T/v1.osup"

# An image root with its keys in etc/osupdate/keys.d and no configuration: the defaults.
newroot() {
        rm -rf "$1"
        mkdir -p "$1/etc/osupdate/keys.d" "$1/var/lib"
        cp "$T/keys/k1.pem" "$1/etc/osupdate/keys.d/"
}

R=$T/root
newroot "$R"
expect "provision a root with its own keys" 0 "Provisioned 1 into slot a" "$OSUPDATE" provision "$T/v1.osup" --root "$R"
S=$R/var/lib/osupdate
st=$(cat "$S/state.json" 2>/dev/null || echo '{}')
got=$(jq -r '[.slots.a.state, .slots.a.version, .active, .next_boot, .good, .booted, .slots.b.state] | join(" ")' <<<"$st")
[ "$got" = "ready 1 a a true  empty" ] && ok "state.json: slot a ready, active, next boot, good, not booted" ||
        not_ok "state.json: $got ($st)"
[ "$(jq -r .version_floor <<<"$st")" = null ] && ok "no version floor set" || not_ok "floor: $st"
for m in usr.erofs:image usr.verity:verity manifest.json:manifest.json manifest.sig:manifest.sig; do
        cmp -s "$T/members/${m%%:*}" "$S/slots/a/${m#*:}" && ok "slot a/${m#*:} is the bundle's ${m%%:*}" ||
                not_ok "slot a/${m#*:} differs from ${m%%:*}"
done
# status reads the provisioned state back through a configuration pointing at the root's paths.
printf '[Update]\nStateDirectory=%s\nRuntimeDirectory=%s\nKeysDirectory=%s\n' "$S" "$T/run" "$R/etc/osupdate/keys.d" >"$T/status.conf"
got=$("$OSUPDATE" status --config "$T/status.conf" --json | jq -r '[.slots.a.state, .slots.a.version, .active, .good] | join(" ")' || true)
[ "$got" = "ready 1 a true" ] && ok "status reads the provisioned slot back" || not_ok "status: $got"
flags=$(lsattr -d "$S/slots/a/image" 2>/dev/null | cut -c1-22 || true)
[[ "$flags" != *i* ]] && ok "slot files are not sealed offline ($flags)" || not_ok "image sealed: $flags"
rm -rf "$R" && [ ! -e "$R" ] && ok "the builder can remove the provisioned tree" || not_ok "rm -rf of the root failed"

# Provisioning twice is refused: the state records a slot.
newroot "$R"
"$OSUPDATE" provision -q "$T/v1.osup" --root "$R"
before=$(snapshot "$R")
expect "a second provision is refused" 26 "already records slot a" "$OSUPDATE" provision "$T/v1.osup" --root "$R"
[ "$before" = "$(snapshot "$R")" ] && ok "the refused second provision changed nothing" || not_ok "root changed"

# A bundle not signed by the root's keys: exit 11, nothing written in the root.
newroot "$R"
before=$(snapshot "$R")
expect "untrusted signature" 11 "" "$OSUPDATE" provision "$T/untrusted.osup" --root "$R"
[ "$before" = "$(snapshot "$R")" ] && ok "bad signature: nothing written in the root" || not_ok "root changed"
# --keys on the build host trusts what the root does not.
mkdir "$T/keys3"
openssl pkey -in "$T/k3.pem" -pubout -out "$T/keys3/k3.pem"
expect "--keys DIR on the host" 0 "Provisioned" "$OSUPDATE" provision "$T/untrusted.osup" --root "$R" --keys "$T/keys3"

# No keys in the root and none given: exit 12.
newroot "$R"
rm "$R/etc/osupdate/keys.d/k1.pem"
expect "no trusted keys in the root" 12 "No trusted keys" "$OSUPDATE" provision "$T/v1.osup" --root "$R"

# The root's configuration: OSId= and StateDirectory= are the root's, paths taken inside it.
newroot "$R"
printf '[Update]\nOSId=other\n' >"$R/etc/osupdate/osupdate.conf"
before=$(snapshot "$R")
expect "OSId= of the root refuses another OS" 17 "for OS \"demo\"" "$OSUPDATE" provision "$T/v1.osup" --root "$R"
[ "$before" = "$(snapshot "$R")" ] && ok "wrong OS: nothing written" || not_ok "root changed"
expect "another architecture" 17 "architecture" "$OSUPDATE" provision "$T/v1.osup" --root "$R" --arch no-such-arch \
        --config /dev/null

# An absolute symlink inside the root resolves inside it, never on the build host.
host_dir=/var/lib/osupdate-provision-test-$$
[ ! -e "$host_dir" ] || { echo "$host_dir exists already"; exit 1; }
newroot "$R"
ln -s /var/lib "$R/var/state"
mkdir -p "$R/etc/osupdate/osupdate.conf.d"
printf '[Update]\nStateDirectory=/var/state/%s\n' "${host_dir##*/}" >"$R/etc/osupdate/osupdate.conf.d/50-state.conf"
expect "StateDirectory= through an absolute symlink in the root" 0 "Provisioned" \
        "$OSUPDATE" provision "$T/v1.osup" --root "$R"
[ -f "$R/var/lib/${host_dir##*/}/slots/a/image" ] && ok "the slot is inside the root (var/lib)" ||
        not_ok "no slot under $R/var/lib/${host_dir##*/}"
[ ! -e "$host_dir" ] && ok "the host's /var/lib is untouched" || { not_ok "$host_dir was created"; rm -rf "$host_dir"; }
# A symlink pointing at nothing inside the root is refused, not created through.
newroot "$R"
ln -s /nonexistent-provision-$$ "$R/var/lib/osupdate"
expect "a dangling symlink as the state directory" 36 "symbolic link" "$OSUPDATE" provision "$T/v1.osup" --root "$R"
[ ! -e /nonexistent-provision-$$ ] && ok "nothing created through the dangling symlink" ||
        { not_ok "/nonexistent-provision-$$ created"; rm -rf /nonexistent-provision-$$; }

# The version floor in the root's state holds; an unreadable state is not overwritten.
newroot "$R"
mkdir -p "$R/var/lib/osupdate"
echo '{"format": 1, "slots": {"a": {"state": "empty"}, "b": {"state": "empty"}}, "version_floor": "5"}' \
        >"$R/var/lib/osupdate/state.json"
expect "below the root's version floor" 21 "floor" "$OSUPDATE" provision "$T/v1.osup" --root "$R"
echo '{not json' >"$R/var/lib/osupdate/state.json"
expect "a corrupt state.json" 24 "corrupt" "$OSUPDATE" provision "$T/v1.osup" --root "$R"

# Bad arguments.
expect "a missing root" 3 "Cannot open root" "$OSUPDATE" provision "$T/v1.osup" --root "$T/nope"
expect "a root that is a file" 3 "not a directory" "$OSUPDATE" provision "$T/v1.osup" --root "$T/v1.osup"
expect "no --root" 2 "missing --root" "$OSUPDATE" provision "$T/v1.osup"
newroot "$R"
expect "a missing bundle" 3 "Cannot open bundle" "$OSUPDATE" provision "$T/nope.osup" --root "$R"

# An unprivileged builder provisions a tree it owns.
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
        U=$(mktemp -d /tmp/osupdate-provision-user.XXXXXX)
        on_exit "rm -rf '$U'"
        newroot "$U/root"
        cp "$T/v1.osup" "$U/"
        chown -R nobody: "$U"
        chmod 755 "$U"
        expect "as nobody, on a tree nobody owns" 0 "Provisioned" \
                setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$OSUPDATE" provision "$U/v1.osup" --root "$U/root"
        [ "$(stat -c %U "$U/root/var/lib/osupdate/slots/a/image" 2>/dev/null)" = nobody ] &&
                ok "the slot belongs to the builder" || not_ok "slot owner: $(ls -l "$U/root/var/lib/osupdate/slots/a" 2>&1)"
else
        echo "# no nobody user or setpriv: unprivileged run not checked"
fi

finish
