#!/bin/bash
# Review of issue 9: an image whose lib/os-release cannot be read for a reason that is the image's
# own (larger than the 64 KiB we read, "lib" a file and not a directory, a FIFO, a symlink) is
# refused like any image that does not name its OS: exit 25, its slot emptied, the live /usr
# unchanged. Such an image must never stay "ready" in a slot (it was left so, exit 34 or 1).
. "$(dirname "$0")/../lib/ns.sh"

setup_target

# refused NAME VERSION REGEX: exit 25 with REGEX, version 1 still live, no slot ready.
refused() {
        local name=$1 v=$2 regex=$3 st
        expect "$name: refused" 25 "$regex" osup apply "$T/v$v.osup"
        st=$(cat "$T/state/state.json")
        [ "$(cat "$TARGET/version")" = 1 ] && [ "$(awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo | wc -l)" = 1 ] &&
                ok "$name: version 1 still live" || not_ok "$name: live $(cat "$TARGET/version")"
        [ "$(jq -r '[.slots[] | select(.state == "empty")] | length' <<<"$st")" = 2 ] &&
                ok "$name: its slot emptied" || not_ok "$name: slots $(jq -c .slots <<<"$st")"
}

# systemd reads a file of any size; we read at most 64 KiB of a file someone else made.
bundle_with 2 'rm -f "$d/lib/os-release"; { printf "ID=demo\nIMAGE_VERSION=2\n"; head -c 70000 /dev/zero | tr "\0" "#"; } >"$d/lib/os-release"'
refused "lib/os-release of 70000 bytes" 2 "larger than 64 KiB"
bundle_with 3 'rm -rf "$d/lib"; printf "ID=demo\n" >"$d/lib"'
refused "lib a regular file" 3 "no readable lib/os-release"
bundle_with 4 'rm -f "$d/lib/os-release"; mkfifo "$d/lib/os-release"'
refused "lib/os-release a FIFO" 4 "no readable lib/os-release"
bundle_with 5 'rm -f "$d/lib/os-release"; ln -s /etc/os-release "$d/lib/os-release"'
refused "lib/os-release a symlink" 5 "no readable lib/os-release"

# And a good image still goes live after all that.
bundle_with 6 'printf "ID=demo\nIMAGE_VERSION=6\n" >"$d/lib/os-release"'
check "a good image after the refused ones" osup apply "$T/v6.osup"
[ "$(cat "$TARGET/version")" = 6 ] && ok "version 6 live" || not_ok "live version $(cat "$TARGET/version")"
finish
