#!/bin/bash
# bundle create / info / verify from the command line: the good paths, reproducible images,
# several keys and SignaturesRequired=, erofs and squashfs, and the publisher's own errors.
. "$(dirname "$0")/../lib/lib.sh"

make_keys
make_tree "$T/tree1" 1
make_tree "$T/tree2" 2

check "create v1 (erofs) from a tree" "$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo \
        --arch x86_64 --tree "$T/tree1" -o "$T/v1.osup"
expect "verify v1" 0 '^'"$T"'/v1.osup: OK' "$OSUPDATE" bundle verify "$T/v1.osup" --keys "$T/keys"

# The bundle is a pax tar with the members in DESIGN.md's order.
members=$(tar -tf "$T/v1.osup" | tr '\n' ' ')
[ "$members" = "manifest.json manifest.sig usr.erofs usr.verity " ] && ok "member order: $members" ||
        not_ok "member order: $members"

expect "info marks the manifest as not verified" 0 'NOT VERIFIED' "$OSUPDATE" bundle info "$T/v1.osup"
json=$("$OSUPDATE" bundle info --json "$T/v1.osup")
root=$(jq -r '.manifest.images[0].verity.root_hash' <<<"$json")
salt=$(jq -r '.manifest.images[0].verity.salt' <<<"$json")
verified=$(jq -r '.verified' <<<"$json")
[[ "$root" =~ ^[0-9a-f]{64}$ && "$salt" =~ ^[0-9a-f]{64}$ && "$verified" = false ]] &&
        ok "info --json has root hash, salt, verified=false" || not_ok "info --json: $json"

# Reproducible images: same tree and flags, same image bytes; another version, another UUID.
SOURCE_DATE_EPOCH=1700000000 "$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo \
        --tree "$T/tree1" -o "$T/r1.osup" >/dev/null
sleep 1
SOURCE_DATE_EPOCH=1700000000 "$OSUPDATE" bundle create --key "$T/k2.pem" --version 1 --os-id demo \
        --tree "$T/tree1" -o "$T/r2.osup" >/dev/null
mkdir "$T/x1" "$T/x2"
tar -C "$T/x1" -xf "$T/r1.osup" usr.erofs
tar -C "$T/x2" -xf "$T/r2.osup" usr.erofs
cmp -s "$T/x1/usr.erofs" "$T/x2/usr.erofs" && ok "same tree and flags give the same image bytes" ||
        not_ok "images differ between two builds of the same tree"

# Files owned by someone else still end up root-owned in the image.
chown -R 1234:1234 "$T/tree2"
check "create v2 with two keys" "$OSUPDATE" bundle create --key "$T/k1.pem" --key "$T/k2.pem" --version 2 \
        --os-id demo --min-version 1 --expires +30d --tree "$T/tree2" -o "$T/v2.osup"
nsig=$(tar -xOf "$T/v2.osup" manifest.sig | jq '.signatures | length')
[ "$nsig" = 2 ] && ok "two --key give two signatures" || not_ok "signatures: $nsig"
expires=$("$OSUPDATE" bundle info --json "$T/v2.osup" | jq -r .manifest.expires)
[[ "$expires" =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T ]] && ok "expires recorded ($expires)" || not_ok "expires: $expires"

printf '[Update]\nSignaturesRequired=2\nKeysDirectory=%s\n' "$T/keys" >"$T/two.conf"
expect "SignaturesRequired=2 accepts two distinct trusted keys" 0 "2 valid by trusted keys" \
        "$OSUPDATE" bundle verify "$T/v2.osup" --config "$T/two.conf"
expect "SignaturesRequired=2 refuses one" 11 "1 valid signature" \
        "$OSUPDATE" bundle verify "$T/v1.osup" --config "$T/two.conf"

if command -v unsquashfs >/dev/null; then
        check "create squashfs" "$OSUPDATE" bundle create --key "$T/k1.pem" --version 3 --os-id demo \
                --fstype squashfs --tree "$T/tree1" -o "$T/sq.osup"
        expect "verify squashfs" 0 "usr.squashfs, squashfs" "$OSUPDATE" bundle verify "$T/sq.osup" --keys "$T/keys"
        mkdir "$T/sq"
        tar -C "$T/sq" -xf "$T/sq.osup" usr.squashfs
        unsquashfs -d "$T/sq/root" "$T/sq/usr.squashfs" >/dev/null
        cmp -s "$T/sq/root/version" "$T/tree1/version" && ok "squashfs image holds the tree" ||
                not_ok "squashfs content differs"
else
        not_ok "unsquashfs missing: squashfs-tools must be installed"
fi

# Publisher errors: clear message, distinct code, no output file and no temporary left behind.
head -c 8192 /dev/urandom >"$T/random.img"
tar -C "$T/x1" -xf "$T/v1.osup" usr.erofs
before=$(snapshot "$T")
expect "create without --key" 2 "needs --key" "$OSUPDATE" bundle create --version 1 --os-id demo \
        --tree "$T/tree1" -o "$T/bad.osup"
expect "create with an unreadable key" 3 "Cannot read signing key" "$OSUPDATE" bundle create --key "$T/nope.pem" \
        --version 1 --os-id demo --tree "$T/tree1" -o "$T/bad.osup"
expect "create with a public key as signing key" 2 "not an Ed25519 private key" "$OSUPDATE" bundle create \
        --key "$T/keys/k1.pem" --version 1 --os-id demo --tree "$T/tree1" -o "$T/bad.osup"
expect "create with an invalid version" 2 "invalid version" "$OSUPDATE" bundle create --key "$T/k1.pem" \
        --version '1 2' --os-id demo --tree "$T/tree1" -o "$T/bad.osup"
expect "create with a past --expires" 2 "not a future time" "$OSUPDATE" bundle create --key "$T/k1.pem" \
        --version 1 --os-id demo --expires 2001-01-01 --tree "$T/tree1" -o "$T/bad.osup"
expect "create from a file that is no image" 17 "neither an erofs nor a squashfs" "$OSUPDATE" bundle create \
        --key "$T/k1.pem" --version 1 --os-id demo --image "$T/random.img" -o "$T/bad.osup"
expect "create --fstype that contradicts the image" 17 "contains erofs, not squashfs" "$OSUPDATE" bundle create \
        --key "$T/k1.pem" --version 1 --os-id demo --fstype squashfs --image "$T/x1/usr.erofs" -o "$T/bad.osup"
expect "create from a missing tree" 3 "mkfs.erofs failed" "$OSUPDATE" bundle create --key "$T/k1.pem" \
        --version 1 --os-id demo --tree "$T/no-such-tree" -o "$T/bad.osup"
after=$(snapshot "$T")
[ "$before" = "$after" ] && ok "failed creates wrote nothing" || not_ok "failed creates left files: $(diff <(echo "$before") <(echo "$after"))"

finish
