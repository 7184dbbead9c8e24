#!/bin/bash
# A resume record that does not check out is discarded and the download starts over from byte 0,
# instead of failing every later fetch of that URL: a corrupt head.partial, a resume.json whose
# head size is wrong or that is not JSON, an image.partial longer than the image could be (or
# than the whole bundle, which the server answers with 416), and a server that answers 416 to the
# Range of a record that looks fine. Each fetch succeeds from byte 0 (a 200 for the whole file),
# leaves no partial files, and the live /usr and the active slot stay as they were.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"
. "$(dirname "$0")/hardening-lib.sh"

setup_target
start_nginx || { not_ok "nginx"; finish; }
net_conf
H="http://127.0.0.1:$NGINX_HTTP"
publish_big v2.osup 2
U="$H/throttle/v2.osup"
size2=$(stat -c %s "$T/www/v2.osup")
image2=$(tar -xOf "$T/www/v2.osup" manifest.json | jq .images[0].size)

# recovers NAME WHY [URL SIZE VERSION]: after a cut download and a mutation of its record, the next
# fetch of the same URL succeeds with a whole download (200 from byte 0), a debug message matches
# WHY, no partial file is left, and the live /usr and the active slot are as before.
recovers() {
        local name=$1 why=$2 url=${3:-$U} size=${4:-$size2} version=${5:-2} out rc=0 line live_before
        live_before=$(cat "$TARGET/version")
        out=$(OSUPDATE_DEBUG=1 "$OSUPDATE" fetch "$url" --config "$CONF" 2>&1) || rc=$?
        [ "$rc" = 0 ] && grep -q "Fetched and verified $version into slot" <<<"$out" && ok "$name: the fetch succeeds" ||
                not_ok "$name: exit $rc: $(grep -v "^osupdate: debug" <<<"$out" | tail -3)"
        grep -Eq "$why" <<<"$out" && ok "$name: the debug log says: $(grep -Eo "$why" <<<"$out" | head -1)" ||
                not_ok "$name: no debug message /$why/"
        line=$(requests_for "${url#"$H"}" | tail -1)
        grep -q " 200 $size range=- " <<<"$line" && ok "$name: downloaded whole from byte 0" ||
                not_ok "$name: last request: $line"
        [ -z "$(leftovers)" ] && ok "$name: no partial files left" || not_ok "$name: left: $(leftovers)"
        [ "$(cat "$TARGET/version")" = "$live_before" ] && [ "$(jq -r .active "$T/state/state.json")" = null ] &&
                [ "$(jq -r .staged "$T/state/state.json")" != null ] || not_ok "$name: live /usr or state changed"
}

# cut NAME: an interrupted download of $U that left a resume record.
cut() {
        cut_download "$U"
        [ -n "$(slot_file resume.json)" ] && [ -n "$(slot_file head.partial)" ] ||
                not_ok "$1: the cut download left no resume record: $(find "$T/state")"
}

# The baseline: an intact record resumes (206), so the cases below really exercise the record.
cut "intact record"
expect "intact record: the fetch succeeds" 0 "Fetched and verified 2 into slot" osup fetch "$U"
requests_for /throttle/v2.osup | tail -1 | grep -q " 206 .*range=bytes=" && ok "intact record: resumed with a Range (206)" ||
        not_ok "intact record: $(requests_for /throttle/v2.osup | tail -1)"

cut "corrupt head.partial"
h=$(slot_file head.partial)
flip_byte "$h" $(($(stat -c %s "$h") / 2))
recovers "corrupt head.partial (same size)" "head.partial is not what was recorded"

cut "head size"
r=$(slot_file resume.json)
jq -c '.head_size += 512' "$r" >"$r.new" && mv "$r.new" "$r"
recovers "resume.json with the wrong head size" "head.partial is missing or not the recorded [0-9]+ bytes"

cut "not JSON"
printf 'garbage' >"$(slot_file resume.json)"
recovers "resume.json that is not JSON" "resume.json is malformed"

cut "image longer than the image"
truncate -s $((image2 + 8192)) "$(slot_file image.partial)"
recovers "image.partial longer than the signed image" "image.partial is [0-9]+ bytes, more than the image's [0-9]+"

cut "image longer than the bundle"
truncate -s $((size2 + 1048576)) "$(slot_file image.partial)"
recovers "image.partial longer than the whole bundle" "image.partial is [0-9]+ bytes, more than the image's [0-9]+"

# A record that looks fine, but the server's file is now shorter than where it would resume and
# still has the validator the record holds (a server-side mix-up, or a record from elsewhere):
# the server answers 416 to the Range.
cp "$T/www/v2.osup" "$T/www/e.osup"
E="$H/throttle/e.osup"
cut_download "$E"
make_bundle 3
cp "$T/v3.osup" "$T/www/e.osup"
etag=$(curl -sI "$E" | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}')
r=$(slot_file resume.json)
jq -c --arg v "$etag" '.validator = $v' "$r" >"$r.new" && mv "$r.new" "$r"
recovers "a 416 answer to the Range" "has no byte [0-9]+ \\(HTTP 416\\): downloading it whole" "$E" "$(stat -c %s "$T/www/e.osup")" 3
requests_for /throttle/e.osup | grep -q " 416 " && ok "the server did answer 416 first" ||
        not_ok "no 416 in: $(requests_for /throttle/e.osup)"
finish
