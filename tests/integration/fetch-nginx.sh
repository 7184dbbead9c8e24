#!/bin/bash
# Network installs against Debian's nginx on 127.0.0.1, over HTTP, HTTPS and mutual TLS: success,
# HTTP errors, truncation, a slow server, an over-long response, untrusted CA, missing client
# certificate, HTTPS->HTTP redirect, mirrors, progress events, and a download cut in the middle
# that the next run resumes with a Range request (or restarts when the file changed). After every
# failure the live /usr, the active and booted slots are as before.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"

setup_target
start_nginx || { not_ok "nginx"; finish; }
H="http://127.0.0.1:$NGINX_HTTP"
S="https://127.0.0.1:$NGINX_HTTPS"
M="https://127.0.0.1:$NGINX_MTLS"
cat >>"$CONF" <<CONF
[Network]
CAFile=$N/ca.pem
ConnectTimeout=5s
Retries=2
RetryDelay=100ms
UserAgent=osupdate-test
Header=X-Machine-Id: test-machine
CONF
netconf() { # netconf NAME LINES…: a config with extra [Network] lines
        local f="$T/$1.conf"
        shift
        cp "$CONF" "$f"
        printf '%s\n' "$@" >>"$f"
        echo "$f"
}
publish() { # publish VERSION [create options]: $T/www/vV.osup
        make_bundle "$@"
        cp "$T/v$1.osup" "$T/www/v$1.osup"
}
live() { cat "$TARGET/version"; }

# failed NAME CODE REGEX CMD…: exit CODE, message REGEX, and the live system as before.
failed() {
        local name=$1 code=$2 regex=$3 live_before state_before
        shift 3
        live_before=$(live)
        state_before=$(jq -c '{active, booted, next_boot}' "$T/state/state.json" 2>/dev/null || echo none)
        expect "$name" "$code" "$regex" "$@"
        [ "$(live)" = "$live_before" ] || not_ok "$name: the live version changed"
        [ "$(jq -c '{active, booted, next_boot}' "$T/state/state.json" 2>/dev/null || echo none)" = "$state_before" ] ||
                not_ok "$name: active/booted/next-boot changed"
        [ "$(awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo | wc -l)" = 1 ] || not_ok "$name: mounts changed"
}

publish 2
expect "apply over HTTP" 0 "1 -> 2" osup apply "$H/v2.osup"
requests_for /v2.osup | grep -q "ua=osupdate-test id=test-machine" && ok "UserAgent= and Header= reach the server" ||
        not_ok "headers: $(requests_for /v2.osup)"
publish 3
expect "apply over HTTPS (test CA)" 0 "2 -> 3" osup apply "$S/v3.osup"
publish 4
mtls=$(netconf mtls "ClientCertificate=$N/client.pem" "ClientKey=$N/client.key")
expect "apply over mutual TLS" 0 "3 -> 4" "$OSUPDATE" apply "$M/v4.osup" --config "$mtls"

# Refusals.
publish 5
state_before=$(sha256sum <"$T/state/state.json")
failed "mutual TLS without a client certificate" 32 "HTTP 400" osup apply "$M/v5.osup"
failed "404" 32 "HTTP 404" osup apply "$H/nope.osup"
failed "500, after the retries" 32 "HTTP 500" osup apply "$H/fail"
n500=$(requests_for /fail | wc -l)
[ "$n500" = 3 ] && ok "500 was tried 3 times (Retries=2)" || not_ok "/fail requested $n500 times"
failed "an untrusted CA" 33 "TLS failed" "$OSUPDATE" apply "$S/v5.osup" --config "$(netconf other "CAFile=$N/other-ca.pem")"
sed '/^CAFile=/d' "$CONF" >"$T/noca.conf"
failed "no CAFile: the system CAs do not know the test CA" 33 "TLS failed" "$OSUPDATE" apply "$S/v5.osup" --config "$T/noca.conf"
failed "an HTTPS->HTTP redirect" 33 "no redirect from HTTPS to HTTP" osup apply "$S/to-http/v5.osup"
[ "$(sha256sum <"$T/state/state.json")" = "$state_before" ] && ok "state.json unchanged by the refusals so far" ||
        not_ok "state.json changed"
head -c $(($(stat -c %s "$T/www/v5.osup") - 30000)) "$T/www/v5.osup" >"$T/www/trunc.osup"
failed "a truncated response" 14 "Truncated|truncated" osup apply "$H/trunc.osup"
failed "MaxBytes= below the bundle's size" 34 "MaxBytes" "$OSUPDATE" apply "$H/v5.osup" --config "$(netconf max "MaxBytes=64K")"
failed "a server slower than LowSpeedLimit=" 31 "timed out" "$OSUPDATE" apply "$H/slow/v5.osup" \
        --config "$(netconf slow "LowSpeedLimit=100000" "LowSpeedTime=2s" "Retries=0")"
cat "$T/www/v5.osup" >"$T/www/long.osup"
head -c $((64 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >>"$T/www/long.osup"
failed "a response longer than the signed size" 14 "trailing data" osup apply "$H/long.osup"
sent=$(requests_for /long.osup | awk '{print $3}' | tail -1)
[ "$sent" -lt $((32 * 1024 * 1024)) ] && ok "the over-long response was aborted after $sent of $(stat -c %s "$T/www/long.osup") bytes" ||
        not_ok "the over-long response was read to $sent bytes"

# Mirrors: the source's server misses the file, the mirror has it.
mirror=$(netconf mirror "Mirror=$H/mirror/")
mkdir "$T/www/mirror"
cp "$T/www/v5.osup" "$T/www/mirror/"
expect "a missing file falls back to Mirror=" 0 "4 -> 5" "$OSUPDATE" apply "$H/missing/v5.osup" --config "$mirror"

# Progress as JSON lines.
publish 6
out=$(osup fetch "$H/v6.osup" --json)
events=$(jq -r .event <<<"$out" | sort -u | tr '\n' ' ')
last=$(jq -c 'select(.event == "progress")' <<<"$out" | tail -1)
[ "$events" = "fetch progress " ] && [ "$(jq .bytes <<<"$last")" = "$(stat -c %s "$T/www/v6.osup")" ] &&
        ok "fetch --json: progress events up to the full size, then a fetch event" || not_ok "fetch --json: $out"
[ "$(live)" = 5 ] && [ "$(jq -r .staged "$T/state/state.json")" != null ] && ok "fetch staged v6 without switching" ||
        not_ok "fetch switched or did not stage"
expect "apply --staged switches to it" 0 "5 -> 6" osup apply --staged

# A progress bar only on a terminal: none when stderr is a file, one under a pseudo-terminal.
publish 6.1
mv "$T/www/v6.1.osup" "$T/www/again.osup"
osup fetch "$H/again.osup" >/dev/null 2>"$T/fetch.err" || true
[ ! -s "$T/fetch.err" ] && ok "no progress output when stderr is not a terminal" || not_ok "stderr: $(cat "$T/fetch.err")"
script -qec "$OSUPDATE fetch $H/again.osup --config $CONF" /dev/null >"$T/tty.out" 2>&1 || true
grep -q "MiB/s" "$T/tty.out" && grep -q "\[#" "$T/tty.out" && ok "a progress bar on a terminal" || not_ok "tty: $(cat "$T/tty.out")"

# A cut download resumes: a 12 MiB image served at 2 MiB/s, the first run killed after ~2 s.
make_tree "$T/tree7" 7
head -c $((12 * 1024 * 1024)) /dev/urandom >"$T/tree7/share/big"
"$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version 7 --tree "$T/tree7" -o "$T/www/v7.osup" >/dev/null
size7=$(stat -c %s "$T/www/v7.osup")
"$OSUPDATE" fetch "$H/throttle/v7.osup" --config "$CONF" >/dev/null 2>&1 &
pid=$!
sleep 2
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
first=$(requests_for /throttle/v7.osup | awk '{print $3}' | tail -1)
expect "the next run resumes the cut download" 0 "5|6 -> 7" osup apply "$H/throttle/v7.osup"
line=$(requests_for /throttle/v7.osup | tail -1)
second=$(awk '{print $3}' <<<"$line")
echo "# first run got $first bytes, second: $line (bundle $size7 bytes)"
if grep -q " 206 " <<<"$line" && grep -q "range=bytes=" <<<"$line" && [ "$second" -lt "$size7" ] &&
        [ $((first + second)) -le $((size7 + 1100000)) ]; then
        ok "the second run transferred only the rest ($second of $size7 bytes, Range + 206)"
else
        not_ok "the second run: $line"
fi
[ "$(live)" = 7 ] && ok "v7 is live after the resumed download" || not_ok "live: $(live)"

# The file replaced on the server after the cut: If-Range fails, the download restarts whole.
make_tree "$T/tree9" 9
head -c $((12 * 1024 * 1024)) /dev/urandom >"$T/tree9/share/big"
"$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version 8 --tree "$T/tree7" -o "$T/www/next.osup" >/dev/null
"$OSUPDATE" fetch "$H/throttle/next.osup" --config "$CONF" >/dev/null 2>&1 &
pid=$!
sleep 2
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
sleep 1 # a new mtime, so a new ETag
"$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version 9 --tree "$T/tree9" -o "$T/www/next.osup.new" >/dev/null
mv "$T/www/next.osup.new" "$T/www/next.osup"
expect "a file replaced on the server is downloaded whole, never spliced" 0 "7 -> 9" osup apply "$H/next.osup"
line=$(requests_for /next.osup | tail -1)
grep -q " 200 $(stat -c %s "$T/www/next.osup") " <<<"$line" && ok "the restart got the whole new file (200): $line" ||
        not_ok "restart: $line"
left=$(find "$T/state/slots" \( -name '*.partial' -o -name resume.json \) | wc -l)
[ "$left" = 0 ] && ok "no partial files or resume records left in the slots" || not_ok "$left leftovers: $(find "$T/state/slots")"
finish
