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

finish
