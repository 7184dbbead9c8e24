#!/bin/bash
# Every kind of bad bundle: `bundle verify` exits with the documented code, says what is wrong,
# and writes nothing. The defects are made with tests/lib/bundle-craft from one good bundle.
. "$(dirname "$0")/../lib/lib.sh"
: "${CRAFT:?CRAFT must point to bundle-craft}"

make_keys
make_tree "$T/tree" 1
"$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo --expires +1d --tree "$T/tree" \
        -o "$T/good.osup" >/dev/null
tar -C "$T" -xf "$T/good.osup" manifest.json
M="$T/manifest.json"
B="$T/bad"
mkdir "$B"

# bad NAME CODE REGEX [CRAFT-OPS…]: craft a bundle, verify it, expect CODE and REGEX, nothing written.
bad() {
        local name=$1 code=$2 regex=$3
        shift 3
        local f="$B/$(tr -c 'a-zA-Z0-9' _ <<<"$name").osup"
        "$CRAFT" "$T/good.osup" "$f" "$@"
        local before after
        before=$(snapshot "$T")
        expect "$name" "$code" "$regex" "$OSUPDATE" bundle verify "$f" --keys "$T/keys"
        after=$(snapshot "$T")
        [ "$before" = "$after" ] || not_ok "$name: verify wrote something"
        # Checked: gone, so that the next case's snapshots (which hash all of $T) stay small.
        rm -f "$f"
}

# edit NAME CODE REGEX JQ-FILTER: a manifest edited with jq, re-signed by the trusted key.
edit() {
        local name=$1 code=$2 regex=$3 filter=$4
        jq "$filter" "$M" >"$T/edited.json"
        bad "$name" "$code" "$regex" --manifest "$T/edited.json" --sign "$T/k1.pem"
}

# raw NAME CODE REGEX TEXT: manifest.json replaced by TEXT, re-signed by the trusted key.
raw() {
        printf '%s' "$4" >"$T/raw.json"
        bad "$1" "$2" "$3" --manifest "$T/raw.json" --sign "$T/k1.pem"
}

expect "the good bundle verifies" 0 "OK" "$OSUPDATE" bundle verify "$T/good.osup" --keys "$T/keys"
bad "unchanged rewrite still verifies" 0 "OK"

# Altered bytes.
bad "flipped byte in the image" 10 "does not match its signed verity root hash" --flip usr.erofs 5000
bad "flipped byte in the image's last block" 10 "image was altered" --flip usr.erofs -1
bad "flipped byte in the hash tree" 10 "Hash tree .*does not match" --flip usr.verity 4100
bad "flipped byte in the hash tree superblock" 10 "superblock" --flip usr.verity 100
bad "flipped byte in the manifest" 10 "manifest or the signature was altered" --flip manifest.json 40
tar -xOf "$T/good.osup" manifest.sig |
        jq '.signatures[0].signature |= (if .[0:1] == "0" then "1" else "0" end) + .[1:]' >"$T/flipped.sig"
bad "altered signature value" 10 "altered" --sig "$T/flipped.sig"

# Signatures.
bad "signature by an unknown key" 11 "0 valid signature.*1 by unknown keys" --sign "$T/k3.pem"
bad "manifest.sig missing" 11 "not signed" --drop manifest.sig
printf '[Update]\nSignaturesRequired=2\n' >"$T/two.conf"
"$CRAFT" "$T/good.osup" "$B/twice.osup" --sign "$T/k1.pem" --sign "$T/k1.pem"
expect "two signatures by one key count once" 11 "1 valid signature.*2 required" \
        "$OSUPDATE" bundle verify "$B/twice.osup" --keys "$T/keys" --config "$T/two.conf"
"$CRAFT" "$T/good.osup" "$B/mixed.osup" --sign "$T/k1.pem" --sign "$T/k3.pem"
expect "a trusted and an untrusted signature are fewer than 2" 11 "1 valid signature" \
        "$OSUPDATE" bundle verify "$B/mixed.osup" --keys "$T/keys" --config "$T/two.conf"
printf 'not json' >"$T/sig.txt"
bad "malformed manifest.sig" 15 "manifest.sig" --sig "$T/sig.txt"
mkdir "$T/nokeys"
expect "no trusted keys" 12 "No trusted keys" "$OSUPDATE" bundle verify "$T/good.osup" --keys "$T/nokeys"
expect "keys directory missing" 3 "Cannot read trusted keys" "$OSUPDATE" bundle verify "$T/good.osup" --keys "$T/none"

# Container structure.
bad "members reordered" 14 "out of order" --swap usr.erofs usr.verity
bad "manifest and signature swapped" 14 "expected manifest.json" --swap manifest.json manifest.sig
bad "member duplicated" 14 "duplicate member" --dup usr.verity
bad "manifest duplicated" 14 "duplicate member" --dup manifest.json
printf 'x' >"$T/x.txt"
bad "extra member" 14 "unexpected member \"extra.txt\"" --add extra.txt "$T/x.txt"
bad "absolute member name" 14 "unsafe member name" --rename usr.verity /usr.verity
bad "member name with .." 14 "unsafe member name" --rename usr.verity ../usr.verity
bad "member name with inner .." 14 "unsafe member name" --rename usr.verity a/../usr.verity
bad "symlink member" 14 "symbolic link" --drop usr.verity --symlink usr.verity usr.erofs
bad "hard link member" 14 "hard link" --drop usr.verity --hardlink usr.verity usr.erofs
bad "device member" 14 "device node" --drop usr.verity --device usr.verity
bad "image member missing" 14 "out of order|expected usr.erofs" --drop usr.erofs
bad "hash tree missing" 14 "ends where member usr.verity should be" --drop usr.verity
bad "truncated in the image" 14 "Truncated|truncated" --cut 6000
bad "truncated in the hash tree" 14 "Truncated|truncated" --cut -12000
# The archive cut right after the last member: every member complete, the end marker gone.
end=0
while read -r sz; do end=$((end + 512 + (sz + 511) / 512 * 512)); done < <(tar -tvf "$T/good.osup" | awk '{print $3}')
bad "truncated: end-of-archive marker cut" 14 "end-of-archive marker is missing" --cut "$end"
bad "truncated: half the end-of-archive marker" 14 "end-of-archive marker is missing" --cut $((end + 512))
bad "trailing garbage" 14 "trailing data" --trailing GARBAGE
size=$(jq '.images[0].size' "$M")
bad "member larger than the manifest says" 14 "the manifest says $size" --resize usr.erofs $((size + 4096))
bad "member smaller than the manifest says" 14 "the manifest says $size" --resize usr.erofs $((size - 4096))
bad "hash tree larger than the manifest says" 14 "the manifest says" --resize usr.verity 16384
: >"$T/empty"
bad "empty manifest.json" 15 "manifest.json is 0 bytes" --manifest "$T/empty"
printf 'junk' >"$T/notabundle.osup"
expect "not a tar archive" 14 "Malformed bundle" "$OSUPDATE" bundle verify "$T/notabundle.osup" --keys "$T/keys"
expect "bundle file missing" 3 "Cannot open bundle" "$OSUPDATE" bundle verify "$T/missing.osup" --keys "$T/keys"

# Manifest content (signed by a trusted key, so only the parser stands in the way).
raw "malformed JSON" 15 "not valid JSON" '{"format": 1, "os_id": '
raw "JSON that is not an object" 15 "not a JSON object" '[1, 2]'
raw "trailing bytes after the JSON" 15 "not valid JSON" "$(cat "$M") x"
edit "unknown format version" 16 "format version 2 is not supported" '.format = 2'
edit "format of the wrong type" 15 "\"format\" must be an integer" '.format = "1"'
edit "missing version" 15 "required field \"version\" is missing" 'del(.version)'
edit "missing images" 15 "\"images\"" 'del(.images)'
edit "missing root hash" 15 "\"root_hash\" is missing" 'del(.images[0].verity.root_hash)'
edit "version of the wrong type" 15 "\"version\" must be a non-empty string" '.version = 2'
edit "size of the wrong type" 15 "\"size\" must be a non-negative integer" '.images[0].size = "8192"'
edit "negative size" 15 "\"size\" must be a non-negative integer" '.images[0].size = -4096'
edit "size that overflows 64 bits" 15 "\"size\"" '.images[0].size = 18446744073709551615'
edit "size beyond the 1 TiB limit" 15 "\"size\" is out of range" '.images[0].size = 4611686018427387904'
edit "hash tree size that overflows" 15 "\"size\" is out of range" '.images[0].verity.hash_tree.size = 9223372036854775807'
edit "floating-point size" 15 "\"size\"" '.images[0].size = 1e30'
edit "block size not a power of two" 15 "invalid verity parameters" '.images[0].verity.data_block_size = 3000'
edit "unknown field" 15 "unknown field \"surprise\"" '.surprise = true'
edit "unknown image field" 15 "unknown field \"mode\"" '.images[0].mode = "rw"'
edit "unsafe image file name" 15 "unsafe image file name" '.images[0].file = "../usr.erofs"'
edit "unsupported filesystem" 15 "unsupported filesystem type" '.images[0].fstype = "ext4"'
edit "bad root hash" 15 "root_hash" '.images[0].verity.root_hash = "abc"'
edit "no images" 15 "1…8 images" '.images = []'
edit "expired manifest" 13 "expired" '.created = "2020-01-01T00:00:00Z" | .expires = "2021-01-01T00:00:00Z"'
edit "bad timestamp" 15 "not a time" '.created = "yesterday"'

# A manifest that describes a different but valid image: the payload no longer matches.
edit "manifest with another root hash" 10 "image was altered" \
        '.images[0].verity.root_hash = "0000000000000000000000000000000000000000000000000000000000000000"'

# Configuration errors.
printf '[Update]\nSignaturesRequierd=1\n' >"$T/typo.conf"
expect "unknown configuration key" 4 "typo.conf:2: unknown key SignaturesRequierd=" \
        "$OSUPDATE" bundle verify "$T/good.osup" --config "$T/typo.conf"
printf '[Update]\nSignaturesRequired=zero\n' >"$T/val.conf"
expect "bad configuration value" 4 "val.conf:2: invalid value for SignaturesRequired=" \
        "$OSUPDATE" bundle verify "$T/good.osup" --config "$T/val.conf"
printf '[Netwerk]\n' >"$T/sec.conf"
expect "unknown configuration section" 4 "sec.conf:1: unknown section" \
        "$OSUPDATE" bundle verify "$T/good.osup" --config "$T/sec.conf"
for bad in 'Header=NoColonHere' 'Mirror=ftp://mirror.example/' 'MaxBytes=12Q' 'LowSpeedTime=soon' 'Retries=-1'; do
        printf '[Network]\n%s\n' "$bad" >"$T/net.conf"
        expect "bad [Network] value: $bad" 4 "net.conf:2: invalid value for ${bad%%=*}=" \
                "$OSUPDATE" bundle verify "$T/good.osup" --config "$T/net.conf"
done
expect "configuration file missing" 4 "Failed to open configuration file" \
        "$OSUPDATE" bundle verify "$T/good.osup" --config "$T/none.conf"

# Every kind of configuration error is exit 4, never 10 (a signature or digest mismatch).
# badconf NAME FILE REGEX TEXT: TEXT (printf %b escapes) as --config FILE, which bundle verify refuses.
badconf() {
        printf '%b' "$4" >"$T/$2"
        expect "$1" 4 "$3" "$OSUPDATE" bundle verify "$T/good.osup" --config "$T/$2"
}
badconf "configuration line without '='" syntax.conf "syntax.conf:2: expected Key=Value" '[Update]\nSignaturesRequired 1\n'
badconf "configuration assignment outside any section" nosec.conf "nosec.conf:1: assignment SignaturesRequired= outside" \
        'SignaturesRequired=1\n'
badconf "configuration section header unterminated" header.conf "header.conf:1: invalid section header" '[Update\n'
badconf "configuration NUL byte" nul.conf "nul.conf:2: NUL byte" '[Update]\nSignatures\0Required=1\n'
mkdir "$T/base.conf.d"
printf '[Update]\nVerity=sometimes\n' >"$T/base.conf.d/50-bad.conf"
badconf "a bad drop-in" base.conf "50-bad.conf:2: invalid value for Verity=" "[Update]\\nKeysDirectory=$T/keys\\n"
expect "configuration file is a directory" 4 "read error" \
        "$OSUPDATE" bundle verify "$T/good.osup" --config "$T/bad"

finish
