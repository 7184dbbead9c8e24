#!/bin/bash
# Images whose lib/os-release uses the syntax systemd accepts (whitespace around '=', quotes,
# escapes, continuation lines, CRLF, comments) are applied, and once live their os-release still
# names the running OS; one systemd would refuse (invalid UTF-8) or whose ID= only looks set
# (`export ID=`) is refused with exit 25, its slot emptied, the live /usr unchanged.
. "$(dirname "$0")/../lib/ns.sh"

setup_target

# with_os_release VERSION OS-RELEASE-TEXT: $T/v$VERSION.osup, whose image's lib/os-release is the
# text (printf %b).
with_os_release() {
        _text=$2
        bundle_with "$1" 'printf "%b" "$_text" >"$d/lib/os-release"'
}

# refused_image NAME REGEX: exit 25 with REGEX, live version 3, the slot it was written to emptied.
refused_image() {
        local name=$1 regex=$2 st
        shift 2
        expect "$name" 25 "$regex" "$@"
        st=$(cat "$T/state/state.json")
        [ "$(cat "$TARGET/version")" = 3 ] && [ "$(awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo | wc -l)" = 1 ] &&
                ok "$name: version 3 still live" || not_ok "$name: live $(cat "$TARGET/version")"
        [ "$(jq -r '[.slots[] | select(.state == "empty")] | length' <<<"$st")" = 1 ] &&
                ok "$name: its slot emptied" || not_ok "$name: slots $(jq -c .slots <<<"$st")"
}

# The issue's case: "ID = demo" (and the rest spelled as loosely as systemd allows).
with_os_release 2 '# the demo OS \\\r\nNAME = "Demo \\"OS\\""  \r\n  ID = demo\r\nIMAGE_VERSION\t=\t"2"\r\n'
check "apply an image whose os-release says 'ID = demo'" osup apply "$T/v2.osup"
[ "$(cat "$TARGET/version")" = 2 ] && ok "version 2 live" || not_ok "live version $(cat "$TARGET/version")"

# Now the live os-release is that file: the next apply reads the running OS from it. Quotes pieced
# together, a continuation line, a ';' comment, and no final newline.
with_os_release 3 "; comment\nID='de'\"mo\"\nVERSION_ID=\\\\\n3"
expect "apply over it (read as demo 2), an image with ID='de'\"mo\" and a continued VERSION_ID" 0 ": 2 -> 3 in slot" \
        osup apply "$T/v3.osup"
[ "$(cat "$TARGET/version")" = 3 ] && ok "version 3 live" || not_ok "live version $(cat "$TARGET/version")"
expect "status reads the live os-release as demo 3" 0 "live demo 3$" osup status

# Invalid UTF-8 in any assignment: systemd reads nothing of the file.
with_os_release 4 'ID=demo\nIMAGE_VERSION=4\nNAME=caf\351\n'
refused_image "an image whose os-release has invalid UTF-8" "not one systemd would read" osup apply "$T/v4.osup"

# `export ID=demo` sets the key "export ID": the image names no OS.
with_os_release 5 'export ID=demo\nIMAGE_VERSION=5\n'
refused_image "an image whose os-release says 'export ID=demo'" "os-release says \(no ID\) 5, its manifest demo 5" \
        osup apply "$T/v5.osup"

finish
