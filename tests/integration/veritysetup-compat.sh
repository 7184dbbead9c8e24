#!/bin/bash
# Our dm-verity trees against veritysetup (cryptsetup-bin) as the oracle, both ways.
. "$(dirname "$0")/../lib/lib.sh"
command -v veritysetup >/dev/null || { echo "SKIP: veritysetup (cryptsetup-bin) is not installed"; exit 77; }

make_keys
make_tree "$T/tree" 1
# 24 MiB of file data: about 6000 data blocks, so the tree has two levels and partial blocks.
head -c $((24 * 1024 * 1024)) /dev/urandom >"$T/tree/share/big"
"$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo --tree "$T/tree" -o "$T/b.osup" >/dev/null
mkdir "$T/x"
tar -C "$T/x" -xf "$T/b.osup"
root=$(jq -r '.images[0].verity.root_hash' "$T/x/manifest.json")

check "veritysetup verify accepts our tree and root hash" veritysetup verify "$T/x/usr.erofs" "$T/x/usr.verity" "$root"
dump=$(veritysetup dump "$T/x/usr.verity")
salt=$(jq -r '.images[0].verity.salt' "$T/x/manifest.json")
grep -q "$salt" <<<"$dump" && ok "veritysetup dump shows our salt" || not_ok "salt not in dump: $dump"

cp "$T/x/usr.erofs" "$T/flipped.erofs"
printf '\x55' | dd of="$T/flipped.erofs" bs=1 seek=$((5 * 1024 * 1024 + 17)) conv=notrunc status=none
if veritysetup verify "$T/flipped.erofs" "$T/x/usr.verity" "$root" >/dev/null 2>&1; then
        not_ok "veritysetup accepted a flipped data byte: the oracle checks nothing"
else
        ok "veritysetup rejects a flipped data byte against our tree"
fi

# The other way: trees made by veritysetup format, with default and with unusual parameters.
cp "$T/x/usr.erofs" "$T/img"
n=0
for params in "" "--hash sha512 --data-block-size 1024 --hash-block-size 1024" \
        "--salt 00 --hash-block-size 512" "--salt $(printf '%0128d' 7)"; do
        n=$((n + 1))
        # shellcheck disable=SC2086
        vroot=$(veritysetup format $params "$T/img" "$T/vs$n.tree" | awk '/Root hash:/ {print $3}')
        if ! "$OSUPDATE" bundle create --key "$T/k1.pem" --version "1.$n" --os-id demo --image "$T/img" \
                --hash-tree "$T/vs$n.tree" -o "$T/vs$n.osup" >"$T/out" 2>&1; then
                not_ok "bundle from a veritysetup tree ($params): $(cat "$T/out")"
                continue
        fi
        ours=$(tar -xOf "$T/vs$n.osup" manifest.json | jq -r '.images[0].verity.root_hash')
        [ "$ours" = "$vroot" ] && ok "same root hash as veritysetup format $params" ||
                not_ok "root $ours != veritysetup's $vroot ($params)"
        expect "our verifier accepts veritysetup's tree $params" 0 "hash tree checked" \
                "$OSUPDATE" bundle verify "$T/vs$n.osup" --keys "$T/keys"
done

# A veritysetup tree of another image is refused when building the bundle.
make_tree "$T/tree2" 2
"$OSUPDATE" bundle create --key "$T/k1.pem" --version 2 --os-id demo --tree "$T/tree2" -o "$T/b2.osup" >/dev/null
tar -C "$T" -xf "$T/b2.osup" usr.erofs
truncate -s "$(stat -c %s "$T/img")" "$T/usr.erofs"
veritysetup format "$T/usr.erofs" "$T/other.tree" >/dev/null
expect "a tree of another image is refused" 10 "is not the hash tree of this image" \
        "$OSUPDATE" bundle create --key "$T/k1.pem" --version 3 --os-id demo --image "$T/img" \
        --hash-tree "$T/other.tree" -o "$T/wrong.osup"
[ ! -e "$T/wrong.osup" ] && ok "no bundle written for the wrong tree" || not_ok "wrong.osup exists"


# No salt (veritysetup format --salt=-): "-" in the manifest, and the bundled tree still what
# veritysetup verifies.
vroot=$(veritysetup format --salt=- "$T/img" "$T/nosalt.tree" | awk '/Root hash:/ {print $3}')
check "a bundle from a tree without salt" "$OSUPDATE" bundle create --key "$T/k1.pem" --version 4 --os-id demo \
        --image "$T/img" --hash-tree "$T/nosalt.tree" -o "$T/nosalt.osup"
msalt=$(tar -xOf "$T/nosalt.osup" manifest.json | jq -r '.images[0].verity.salt')
[ "$msalt" = "-" ] && ok "the manifest states no salt as \"-\"" || not_ok "salt without salt: $msalt"
expect "our verifier accepts the tree without salt" 0 "hash tree checked" \
        "$OSUPDATE" bundle verify "$T/nosalt.osup" --keys "$T/keys"
expect "bundle info shows no salt as -" 0 "Salt:[[:space:]]+-$" "$OSUPDATE" bundle info "$T/nosalt.osup"
mkdir "$T/ns"
tar -C "$T/ns" -xf "$T/nosalt.osup"
check "veritysetup verifies the bundled tree without salt" veritysetup verify "$T/ns/usr.erofs" "$T/ns/usr.verity" "$vroot"
grep -Eq '^Salt:[[:space:]]+-$' <<<"$(veritysetup dump "$T/ns/usr.verity")" && ok "veritysetup dump: no salt" ||
        not_ok "veritysetup dump: $(veritysetup dump "$T/ns/usr.verity")"

# A tree written into a longer file (veritysetup does not truncate it): the tree's own size comes
# from its superblock; the bundle carries exactly the tree, block 0 zero after the superblock.
head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/long.tree"
vroot=$(veritysetup format "$T/img" "$T/long.tree" | awk '/Root hash:/ {print $3}')
check "veritysetup itself accepts the longer tree file" veritysetup verify "$T/img" "$T/long.tree" "$vroot"
check "a bundle from a tree with bytes after it" "$OSUPDATE" bundle create --key "$T/k1.pem" --version 5 \
        --os-id demo --image "$T/img" --hash-tree "$T/long.tree" -o "$T/long.osup"
mkdir "$T/lt"
tar -C "$T/lt" -xf "$T/long.osup"
want=$(jq -r '.images[0].verity.hash_tree.size' "$T/lt/manifest.json")
got=$(stat -c %s "$T/lt/usr.verity")
[ "$got" = "$want" ] && [ "$got" -lt $((3 * 1024 * 1024)) ] && ok "only the tree is bundled ($got bytes)" ||
        not_ok "bundled tree is $got bytes, manifest says $want"
check "veritysetup verifies the trimmed tree" veritysetup verify "$T/lt/usr.erofs" "$T/lt/usr.verity" "$vroot"
expect "our verifier accepts the trimmed tree" 0 "hash tree checked" \
        "$OSUPDATE" bundle verify "$T/long.osup" --keys "$T/keys"
[ -z "$(tail -c +513 "$T/lt/usr.verity" | head -c 3584 | tr -d '\0')" ] &&
        ok "block 0 is zero after the superblock" || not_ok "block 0 keeps bytes after the superblock"
# Shorter than its superblock says: refused.
veritysetup format "$T/img" "$T/short.tree" >/dev/null
truncate -s 4096 "$T/short.tree"
expect "a tree shorter than its superblock says is refused" 2 "its superblock needs a tree of" \
        "$OSUPDATE" bundle create --key "$T/k1.pem" --version 6 --os-id demo --image "$T/img" \
        --hash-tree "$T/short.tree" -o "$T/short.osup"

# What the kernel would refuse, or we do not support, is refused by name before anything is built.
refuse() {
        local name=$1 regex=$2
        shift 2
        rm -f "$T/r.tree"
        veritysetup format "$@" "$T/img" "$T/r.tree" >/dev/null 2>&1
        expect "$name" 2 "$regex" "$OSUPDATE" bundle create --key "$T/k1.pem" --version 7 --os-id demo \
                --image "$T/img" --hash-tree "$T/r.tree" -o "$T/r.osup"
        [ ! -e "$T/r.osup" ] && ok "$name: nothing written" || not_ok "$name: r.osup exists"
}
refuse "8 KiB data blocks (larger than a page)" "data block size 8192 is larger than the page size 4096" \
        --data-block-size 8192
refuse "8 KiB hash blocks" "hash block size 8192 is larger than the page size 4096" --hash-block-size 8192
refuse "format 0 (Chrome OS)" "hash tree format 0 \\(Chrome OS.* is not supported: only format 1" --format 0
refuse "sha1" "hash algorithm \"sha1\" is not supported: only sha256 and sha512" --hash sha1
refuse "no superblock" "no veritysetup superblock" --no-superblock

# A signed bundle with blocks larger than this machine's page: refused when verified (the kernel
# here would refuse it), with its own exit code, not as malformed.
: "${CRAFT:?CRAFT must point to bundle-craft}"
page=$(getconf PAGESIZE)
big=$((2 * page))
cp "$T/img" "$T/big.img"
size=$(stat -c %s "$T/big.img")
truncate -s $(((size + big - 1) / big * big)) "$T/big.img"
out=$(veritysetup format --data-block-size "$big" "$T/big.img" "$T/big.tree" 2>/dev/null)
bsalt=$(awk '/^Salt:/ {print $2}' <<<"$out")
broot=$(awk '/Root hash:/ {print $3}' <<<"$out")
tar -xOf "$T/b.osup" manifest.json |
        jq --argjson size "$(stat -c %s "$T/big.img")" --argjson bs "$big" --argjson ts "$(stat -c %s "$T/big.tree")" \
                --arg salt "$bsalt" --arg root "$broot" \
                '.images[0].size = $size | .images[0].verity.data_block_size = $bs | .images[0].verity.salt = $salt |
                 .images[0].verity.root_hash = $root | .images[0].verity.hash_tree.size = $ts' >"$T/big.json"
"$CRAFT" "$T/b.osup" "$T/big.osup" --drop usr.erofs --drop usr.verity --add usr.erofs "$T/big.img" \
        --add usr.verity "$T/big.tree" --manifest "$T/big.json" --sign "$T/k1.pem"
expect "a signed bundle with blocks above the page size is refused" 17 \
        "cannot be used on this machine: .*data block size $big is larger than the page size $page" \
        "$OSUPDATE" bundle verify "$T/big.osup" --keys "$T/keys"

finish
