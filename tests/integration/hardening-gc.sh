#!/bin/bash
# osupdate gc removes what an interrupted download left in a slot that is not READY (head.partial,
# resume.json, *.partial), so a record nobody resumes does not sit there for ever, and leaves
# state.json and every READY slot as they were.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"
. "$(dirname "$0")/hardening-lib.sh"

setup_target
start_nginx || { not_ok "nginx"; finish; }
net_conf
make_bundle 2
osup apply "$T/v2.osup" >/dev/null && ok "v2 applied (slot a)" || not_ok "v2 did not apply"
publish_big v3.osup 3
U="http://127.0.0.1:$NGINX_HTTP/throttle/v3.osup"

cut_download "$U"
[ -n "$(slot_file resume.json)" ] && [ "$(slot_file resume.json)" = "$T/state/slots/b/resume.json" ] &&
        ok "the cut download left a resume record in slot b" || not_ok "no record in slot b: $(leftovers)"
state_before=$(sha256sum <"$T/state/state.json")
slot_a_before=$(snapshot "$T/state/slots/a")

# WIRING (updater/apply.c update_gc): the three checks below need update_gc() to call
# slot_clear_download() for each slot that is not READY.
expect "gc" 0 "Freed 0 slot" osup gc
[ -z "$(leftovers)" ] && ok "gc removed the partial download" || not_ok "gc left: $(leftovers)"
[ -z "$(find "$T/state/slots/b" -type f)" ] && ok "slot b holds no file any more" || not_ok "slot b: $(find "$T/state/slots/b")"

[ "$(sha256sum <"$T/state/state.json")" = "$state_before" ] && ok "state.json unchanged" || not_ok "state.json changed"
[ "$(snapshot "$T/state/slots/a")" = "$slot_a_before" ] && ok "the READY slot a unchanged" || not_ok "slot a changed"
[ "$(cat "$TARGET/version")" = 2 ] && ok "v2 still live" || not_ok "live: $(cat "$TARGET/version")"

expect "a second gc finds nothing" 0 "Freed 0 slot" osup gc
expect "the next fetch downloads it whole" 0 "Fetched and verified 3 into slot b" osup fetch "$U"
requests_for /throttle/v3.osup | tail -1 | grep -q " 200 .*range=- " && ok "whole (200), no Range" ||
        not_ok "last request: $(requests_for /throttle/v3.osup | tail -1)"
expect "gc keeps the staged slot" 0 "Freed 0 slot" osup gc
[ "$(jq -r .slots.b.state "$T/state/state.json")" = ready ] && [ -f "$T/state/slots/b/image" ] &&
        ok "slot b still ready and staged" || not_ok "gc removed the staged slot"
finish
