#!/bin/bash
# Signed channel documents: `osupdate channel create` and `channel verify` from files and over
# nginx (HTTP and HTTPS): the fields a machine reads, both rollout forms, SignaturesRequired=,
# and every refusal with its own exit code (unsigned or an untrusted signer 11, an altered signed
# text 10, expired 13, malformed 15, another format 16, bad usage 2, network errors as apply's).
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../lib/nginx.sh"

command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }

make_keys
CONF="$T/osupdate.conf"
printf '[Update]\nKeysDirectory=%s\nStateDirectory=%s/state\n' "$T/keys" "$T" >"$CONF"
printf '[Update]\nKeysDirectory=%s\nStateDirectory=%s/state\nSignaturesRequired=2\n' "$T/keys" "$T" >"$T/two.conf"

# The bundle is only hashed here: any bytes do.
mkdir -p "$T/www"
head -c 300000 /dev/urandom >"$T/www/v2.1.osup"
SIZE=$(stat -c %s "$T/www/v2.1.osup")
SHA=$(sha256sum "$T/www/v2.1.osup" | cut -d' ' -f1)
URL=https://updates.example.org/stable/v2.1.osup

create() { # create OUT [OPTIONS…]: a document for version 2.1 with the bundle file's size and digest
        local out=$1
        shift
        "$OSUPDATE" channel create --name stable --serial 7 --version 2.1 --bundle "$URL" \
                --bundle-file "$T/www/v2.1.osup" -o "$out" "$@"
}
verify() { "$OSUPDATE" channel verify --config "$CONF" "$@"; }

# --- A good document, --percent ---------------------------------------------------------------
check "create with --percent" create "$T/good.json" --key "$T/k1.pem" --percent 10 \
        --mirror http://mirror.example.org/v2.1.osup --os-id demo
expect "verify the good document" 0 "OK" verify "$T/good.json"
json=$(verify --json "$T/good.json")
want_digest=$(jq -j .signed "$T/good.json" | sha256sum | cut -d' ' -f1)
if [ "$(jq -r .name <<<"$json")" = stable ] && [ "$(jq -r .serial <<<"$json")" = 7 ] &&
        [ "$(jq -r .version <<<"$json")" = 2.1 ] && [ "$(jq -r .os_id <<<"$json")" = demo ] &&
        [ "$(jq -r '.urls | join(" ")' <<<"$json")" = "$URL http://mirror.example.org/v2.1.osup" ] &&
        [ "$(jq -r .size <<<"$json")" = "$SIZE" ] && [ "$(jq -r .sha256 <<<"$json")" = "$SHA" ] &&
        [ "$(jq -r .rollout.percent <<<"$json")" = 10 ] && [ "$(jq -r '.rollout.start // "none"' <<<"$json")" = none ] &&
        [ "$(jq -r .paused <<<"$json")" = false ] && [ "$(jq -r .expires <<<"$json")" = null ] &&
        [[ "$(jq -r .created <<<"$json")" =~ ^20[0-9-]+T[0-9:]+Z$ ]] &&
        [ "$(jq -r .digest <<<"$json")" = "$want_digest" ]; then
        ok "verify --json: name, serial, version, os_id, urls, size, sha256 (= sha256sum), rollout, paused, expires, created, digest (= SHA-256 of the signed text)"
else
        not_ok "verify --json: $json (size $SIZE, sha256 $SHA, digest $want_digest)"
fi
# The signed text is itself the JSON a machine reads.
[ "$(jq -r '.signed | fromjson | .bundle.sha256' "$T/good.json")" = "$SHA" ] &&
        ok "the signed text is JSON carrying the bundle's digest" || not_ok "signed text: $(jq -r .signed "$T/good.json")"

check "create with --percent 12.5 --pause --expires +30d" create "$T/p.json" --key "$T/k1.pem" --percent 12.5 --pause --expires +30d
json=$(verify --json "$T/p.json")
[ "$(jq -r .rollout.percent <<<"$json")" = 12.5 ] && [ "$(jq -r .paused <<<"$json")" = true ] &&
        [[ "$(jq -r .expires <<<"$json")" =~ ^20[0-9-]+T[0-9:]+Z$ ]] &&
        ok "decimal percent, paused, expiry" || not_ok "paused/decimal document: $json"
expect "people's view says paused" 0 "Paused: +yes" verify "$T/p.json"

# --- Linear rollout -----------------------------------------------------------------------------
check "create with a linear rollout" create "$T/lin.json" --key "$T/k1.pem" \
        --rollout-start 2026-11-27T12:00:00Z --rollout-duration 1d
json=$(verify --json "$T/lin.json")
[ "$(jq -r .rollout.start <<<"$json")" = 2026-11-27T12:00:00Z ] && [ "$(jq -r .rollout.duration <<<"$json")" = 86400 ] &&
        [ "$(jq -r '.rollout.percent // "none"' <<<"$json")" = none ] &&
        ok "linear rollout: start and duration (s), no percent" || not_ok "linear document: $json"
expect "people's view of a linear rollout" 0 "Rollout: +linear, 0 % at 2026-11-27T12:00:00Z to 100 % at 2026-11-28T12:00:00Z" \
        verify "$T/lin.json"

# SOURCE_DATE_EPOCH fixes "created": the same request gives the same bytes (Ed25519 is deterministic).
SOURCE_DATE_EPOCH=1795611600 create "$T/r1.json" --key "$T/k1.pem" --percent 50 >/dev/null
SOURCE_DATE_EPOCH=1795611600 create "$T/r2.json" --key "$T/k1.pem" --percent 50 >/dev/null
cmp -s "$T/r1.json" "$T/r2.json" && [ "$(verify --json "$T/r1.json" | jq -r .created)" = 2026-11-25T13:00:00Z ] &&
        ok "SOURCE_DATE_EPOCH: created fixed, same document bytes" || not_ok "SOURCE_DATE_EPOCH: $(diff "$T/r1.json" "$T/r2.json")"

# --- Refusals -----------------------------------------------------------------------------------
jq 'del(.signatures)' "$T/good.json" >"$T/nosig.json"
expect "unsigned (no signatures field)" 11 "unsigned" verify "$T/nosig.json"
jq '.signatures = []' "$T/good.json" >"$T/emptysig.json"
expect "unsigned (empty signatures)" 11 "0 valid signature" verify "$T/emptysig.json"
check "create signed by the untrusted k3" create "$T/k3.json" --key "$T/k3.pem" --percent 10
expect "signed by an untrusted key" 11 "valid signature" verify "$T/k3.json"
jq '.signed |= sub("\"serial\": 7"; "\"serial\": 8")' "$T/good.json" >"$T/altered.json"
grep -q 'serial\\": 8' "$T/altered.json" || not_ok "the test did not manage to alter the serial"
expect "altered signed text" 10 "altered" verify "$T/altered.json"
jq '.signed |= sub("\"percent\": 10"; "\"percent\": 100")' "$T/good.json" >"$T/altered2.json"
expect "altered rollout" 10 "altered" verify "$T/altered2.json"

SOURCE_DATE_EPOCH=1700000000 create "$T/old.json" --key "$T/k1.pem" --percent 10 --expires @1700000600 >/dev/null
expect "expired" 13 "expired at 2023-11-14T22:23:20Z" verify "$T/old.json"

jq '.extra = 1' "$T/good.json" >"$T/unknown.json"
expect "unknown field" 15 'unknown field "extra"' verify "$T/unknown.json"
jq '.signed = 5' "$T/good.json" >"$T/typ.json"
expect "signed text not a string" 15 '"signed" must be a string' verify "$T/typ.json"
head -c 100 "$T/good.json" >"$T/trunc.json"
expect "truncated JSON" 15 "not valid JSON" verify "$T/trunc.json"
jq '.format = 2' "$T/good.json" >"$T/fmt.json"
expect "another format" 16 "format 2 is not supported" verify "$T/fmt.json"
head -c 300000 /dev/zero | tr '\0' ' ' >"$T/huge.json"
expect "larger than 256 KiB" 34 "larger than 262144 bytes" verify "$T/huge.json"
expect "no such file" 3 "Cannot read the channel document" verify "$T/missing.json"

# --- Two keys and SignaturesRequired=2 -------------------------------------------------------------
check "create signed by k1 and k2" create "$T/two.json" --key "$T/k1.pem" --key "$T/k2.pem" --percent 10
[ "$(jq '.signatures | length' "$T/two.json")" = 2 ] && ok "two signatures" || not_ok "signatures: $(jq .signatures "$T/two.json")"
expect "two keys, SignaturesRequired=2" 0 "OK" "$OSUPDATE" channel verify --config "$T/two.conf" "$T/two.json"
expect "one key, SignaturesRequired=2" 11 "1 valid signature\(s\) by distinct trusted keys, 2 required" \
        "$OSUPDATE" channel verify --config "$T/two.conf" "$T/good.json"
check "create signed by k1 and the untrusted k3" create "$T/k13.json" --key "$T/k1.pem" --key "$T/k3.pem" --percent 10
expect "k1 + untrusted k3, SignaturesRequired=2" 11 "1 by unknown keys" \
        "$OSUPDATE" channel verify --config "$T/two.conf" "$T/k13.json"
mkdir "$T/nokeys"
expect "no trusted keys" 12 "" "$OSUPDATE" channel verify --keys "$T/nokeys" "$T/good.json"

# --- Bad usage: exit 2, a message, nothing written --------------------------------------------------
usage() { # usage NAME REGEX OPTIONS…
        local name=$1 regex=$2
        shift 2
        expect "usage: $name" 2 "$regex" create "$T/bad.json" --key "$T/k1.pem" "$@"
}
usage "both rollout forms" "exclude each other" --percent 10 --rollout-start +1h --rollout-duration 1d
usage "no rollout" "needs a rollout"
usage "only --rollout-start" "needs both" --rollout-start +1h
usage "percent 150" '--percent "150" is not a number from 0 to 100' --percent 150
usage "percent -1" "--percent" --percent -1
usage "percent abc" "--percent" --percent abc
usage "bad name" 'invalid channel name "a b"' --percent 10 --name "a b"
usage "bad version" 'invalid version' --percent 10 --version "2 1"
usage "bad serial" '--serial "x"' --percent 10 --serial x
usage "file:// bundle URL" '"file:///srv/v2.1.osup" is not an http:// or https:// URL' --percent 10 --bundle file:///srv/v2.1.osup
usage "ftp mirror" '"ftp://m/v2.1.osup" is not an http' --percent 10 --mirror ftp://m/v2.1.osup
usage "past expiry" '--expires' --percent 10 --expires @1000
usage "bad duration" '--rollout-duration "soon"' --rollout-start +1h --rollout-duration soon
expect "usage: no key" 2 "needs --key" "$OSUPDATE" channel create --name s --serial 1 --version 2 --bundle "$URL" --percent 1 -o "$T/bad.json"
[ ! -e "$T/bad.json" ] && ok "no document written by a refused request" || not_ok "bad.json was written"
expect "a public key is no signing key" 2 "Cannot load the private key" create "$T/bad.json" --key "$T/keys/k1.pem" --percent 10

# --- Over nginx: HTTP, HTTPS with CAFile=, errors ---------------------------------------------------
start_nginx || { not_ok "nginx"; finish; }
H="http://127.0.0.1:$NGINX_HTTP"
S="https://127.0.0.1:$NGINX_HTTPS"
cp "$T/good.json" "$T/www/stable.json"
cp "$T/altered.json" "$T/www/altered.json"
cp "$T/huge.json" "$T/www/huge.json"
printf '[Network]\nCAFile=%s\nConnectTimeout=5s\nRetries=1\nRetryDelay=100ms\n' "$N/ca.pem" >>"$CONF"
expect "verify over HTTP" 0 "^$H/stable.json: OK" verify "$H/stable.json"
expect "verify over HTTPS with CAFile=" 0 "^$S/stable.json: OK" verify "$S/stable.json"
[ "$(verify --json "$S/stable.json" | jq -r .digest)" = "$want_digest" ] && ok "the same digest over HTTPS" ||
        not_ok "digest over HTTPS"
sed '/^CAFile=/d' "$CONF" >"$T/noca.conf"
expect "HTTPS without the test CA" 33 "Cannot download the channel document" \
        "$OSUPDATE" channel verify --config "$T/noca.conf" "$S/stable.json"
expect "404" 32 "Cannot download the channel document $H/nothing.json" verify "$H/nothing.json"
expect "altered, over HTTP" 10 "altered" verify "$H/altered.json"
expect "larger than 256 KiB over HTTP" 34 "larger than 262144 bytes" verify "$H/huge.json"
expect "credentials are not shown" 32 "$H/nothing.json" verify "http://user:secret@127.0.0.1:$NGINX_HTTP/nothing.json?token=t0ps3cret"
out=$(verify "http://user:secret@127.0.0.1:$NGINX_HTTP/nothing.json?token=t0ps3cret" 2>&1 || true)
! grep -q -e secret -e t0ps3cret <<<"$out" && ok "no password or token in the message" || not_ok "leaked: $out"

# --bundle without --bundle-file: downloaded once to learn its size and SHA-256.
: >"$N/access.log"
check "create downloads the bundle" "$OSUPDATE" channel create --key "$T/k1.pem" --name stable --serial 8 --version 2.1 \
        --bundle "$H/v2.1.osup" --percent 100 -o "$T/dl.json"
json=$(verify --json "$T/dl.json")
[ "$(jq -r .size <<<"$json")" = "$SIZE" ] && [ "$(jq -r .sha256 <<<"$json")" = "$SHA" ] &&
        [ "$(jq -r '.urls[0]' <<<"$json")" = "$H/v2.1.osup" ] &&
        ok "downloaded size and SHA-256 match sha256sum ($SIZE bytes)" || not_ok "downloaded digest: $json vs $SIZE $SHA"
[ "$(requests_for /v2.1.osup | grep -c ' 200 ')" = 1 ] && ok "the bundle was fetched once" ||
        not_ok "requests: $(cat "$N/access.log")"
expect "create: the bundle URL is 404" 32 "Cannot download the bundle" "$OSUPDATE" channel create --key "$T/k1.pem" \
        --name stable --serial 8 --version 2.1 --bundle "$H/none.osup" --percent 100 -o "$T/dl404.json"
[ ! -e "$T/dl404.json" ] && ok "nothing written after a failed download" || not_ok "dl404.json written"

finish
