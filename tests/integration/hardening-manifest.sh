#!/bin/bash
# A signed manifest.json with a duplicate key, at any depth and however the key is spelled
# ("version" and "\u0076ersion" are the same key), is malformed (exit 15): json-c would silently
# keep the last value, while another reader of the same signed bytes might keep the first, so one
# signature would cover two meanings. Nothing is written.
. "$(dirname "$(readlink -f "$0")")/../lib/lib.sh"
: "${CRAFT:?CRAFT must point to bundle-craft}"

make_keys
make_tree "$T/tree" 1
"$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo --tree "$T/tree" -o "$T/good.osup" >/dev/null
tar -C "$T" -xf "$T/good.osup" manifest.json
M="$T/manifest.json"
mkdir "$T/bad"

# dup NAME SED-SCRIPT: manifest.json edited as text, re-signed by the trusted key, refused.
dup() {
        local name=$1 f before
        f="$T/bad/$(tr -c 'a-zA-Z0-9' _ <<<"$name").osup"
        sed "$2" "$M" >"$T/edited.json"
        cmp -s "$M" "$T/edited.json" && not_ok "$name: the edit changed nothing"
        "$CRAFT" "$T/good.osup" "$f" --manifest "$T/edited.json" --sign "$T/k1.pem"
        before=$(snapshot "$T")
        expect "$name" 15 "manifest.json: not valid JSON" "$OSUPDATE" bundle verify "$f" --keys "$T/keys"
        [ "$(snapshot "$T")" = "$before" ] || not_ok "$name: verify wrote something"
}

expect "the good bundle verifies (\"size\" and \"file\" in two objects are no duplicates)" 0 "OK" \
        "$OSUPDATE" bundle verify "$T/good.osup" --keys "$T/keys"
dup "a duplicate top-level key" 's/^  "version": "1",/  "version": "1", "version": "9",/'
dup "a duplicate key, the first one escaped" 's/^  "version": "1",/  "\\u0076ersion": "9", "version": "1",/'
dup "a duplicate key, both escaped differently" 's/^  "version": "1",/  "\\u0076ersion": "9", "v\\u0065rsion": "1",/'
dup "a duplicate key in an image" 's/^      "size": \([0-9]*\),/      "size": \1, "size": 8192,/'
dup "a duplicate key in the verity parameters" 's/^        "root_hash": \("[0-9a-f]*"\)/        "root_hash": \1, "root_hash": \1/'
dup "a duplicate key three levels deep" 's/^          "file": "usr.verity",/          "file": "usr.verity", "file": "usr.verity",/'
dup "a duplicate null" 's/^  "version": "1",/  "min_version": null, "version": "1", "min_version": null,/'
finish
