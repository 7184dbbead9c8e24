#!/bin/bash
# A download's resume record keeps no secret: resume.json and head.partial are 0600, and neither
# the password of a user:password@ URL nor its query string (a token) is written anywhere under
# StateDirectory. resume.json holds the SHA-256 of the full URL (to recognise it on the next run)
# and the URL without userinfo and query (for display). Error messages do not show them either.
# The next run of the same URL still resumes (Range, 206).
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"
. "$(dirname "$0")/hardening-lib.sh"

setup_target
start_nginx || { not_ok "nginx"; finish; }
net_conf
publish_big x.osup 2
U="http://user:secret@127.0.0.1:$NGINX_HTTP/throttle/x.osup?token=abc"
shown="http://127.0.0.1:$NGINX_HTTP/throttle/x.osup"

cut_download "$U"
r=$(slot_file resume.json)
h=$(slot_file head.partial)
[ -n "$r" ] && [ -n "$h" ] && ok "the cut download left a resume record" || not_ok "no resume record: $(find "$T/state")"
[ "$(stat -c %a "$r")" = 600 ] && ok "resume.json is 0600" || not_ok "resume.json is $(stat -c %a "$r")"
[ "$(stat -c %a "$h")" = 600 ] && ok "head.partial is 0600" || not_ok "head.partial is $(stat -c %a "$h")"
leaks=$(grep -rlaE "secret|token=abc|user:" "$T/state" || true)
[ -z "$leaks" ] && ok "neither the password nor the query is stored under StateDirectory" || not_ok "leaked into: $leaks"
[ "$(jq -r .url "$r")" = "$shown" ] && ok "resume.json shows the URL without userinfo and query" ||
        not_ok "resume.json: $(cat "$r")"
[ "$(jq -r .url_sha256 "$r")" = "$(printf '%s' "$U" | sha256sum | cut -d' ' -f1)" ] &&
        ok "resume.json holds the SHA-256 of the full URL" || not_ok "resume.json: $(cat "$r")"

expect "an HTTP error names the URL without its secrets" 32 "HTTP 404" osup fetch "http://user:secret@127.0.0.1:$NGINX_HTTP/nope.osup?token=abc"
out=$(osup fetch "http://user:secret@127.0.0.1:$NGINX_HTTP/nope.osup?token=abc" 2>&1 || true)
grep -qE "secret|token=abc" <<<"$out" && not_ok "the error message shows a secret: $out" ||
        ok "the error message shows neither the password nor the token"
[ -n "$(slot_file resume.json)" ] && ok "a failed fetch of another URL kept the record" || not_ok "the record is gone"

# WIRING (updater/apply.c install_from_url): resuming a URL with userinfo or a query needs the
# record to be matched with slot_resume_matches() instead of strcmp(res.url, url).
expect "the next run resumes" 0 "Fetched and verified 2 into slot" osup fetch "$U"
line=$(requests_for "/throttle/x.osup?token=abc" | tail -1)
grep -q " 206 .*range=bytes=" <<<"$line" && ok "resumed with a Range (206): $line" || not_ok "not resumed: $line"
[ -z "$(leftovers)" ] && ok "no partial files left" || not_ok "left: $(leftovers)"
leaks=$(grep -rlaE "secret|token=abc" "$T/state" || true)
[ -z "$leaks" ] && ok "still no secret under StateDirectory" || not_ok "leaked into: $leaks"

# A record left by an older osupdate (the whole URL, 0644) is discarded by the next command that
# recovers the slots, and with it the password.
mkdir -p "$T/state/slots/b"
printf '{ "url": "%s", "validator": "\\"x\\"", "head_size": 512 }' "$U" >"$T/state/slots/b/resume.json"
head -c 512 /dev/zero >"$T/state/slots/b/head.partial"
grep -q secret "$T/state/slots/b/resume.json" || not_ok "the old record was not planted"
expect "gc after an old-format record" 0 "Freed" osup gc
leaks=$(grep -rlaE "secret|token=abc" "$T/state" || true)
[ -z "$leaks" ] && [ -z "$(leftovers)" ] && ok "the old-format record is gone" || not_ok "left: $leaks $(leftovers)"
finish
