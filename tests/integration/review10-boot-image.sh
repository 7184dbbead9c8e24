#!/bin/bash
# Review of the boot stage (issue 10) as a hostile publisher whose signed bundle the device
# installed: an image whose own lib/os-release lies about its version, is a FIFO (a blocking read),
# a symlink out of the image, a directory, or huge. Each must be refused after its try is spent,
# with the other slot booted instead, no hang and nothing of it left mounted.
. "$(dirname "$0")/../lib/boot-stage.sh"

# bad NAME VERSION: slot b (VERSION) refused for its os-release, a (1) booted, b's failure recorded.
bad() {
        newroot "$T/v1.osup"
        add_b "$T/v$2.osup"
        stage
        grep -qF "osupdate: slot b (version $2) cannot boot: its image's own os-release does not match its signed manifest" \
                <<<"$OUT" && ok "$1: refused for its os-release" || not_ok "$1: $OUT"
        is "$1: b's try is spent and its boot failed" \
                "$(jq -r '[.boots[] | .slot + " " + .result] | join(",")' "$S/state.json")" "b failed,a booting"
        is "$1: one mount at R/usr" "$(awk -v t="$R/usr" '$5 == t' /proc/self/mountinfo | wc -l)" 1
        boots "$1" 1
}
bundle_with 4 'printf "ID=demo\nIMAGE_VERSION=9\n" >"$d/lib/os-release"'
bad "os-release names another version" 4
bundle_with 5 'rm "$d/lib/os-release"; mkfifo "$d/lib/os-release"'
bad "os-release a FIFO" 5
bundle_with 6 'rm "$d/lib/os-release"; ln -s /proc/self/environ "$d/lib/os-release"'
bad "os-release a symlink out of the image" 6
bundle_with 7 'rm "$d/lib/os-release"; mkdir "$d/lib/os-release"'
bad "os-release a directory" 7
bundle_with 8 'head -c 2000000 /dev/zero | tr "\\0" "#" >>"$d/lib/os-release"'
bad "os-release of 2 MB" 8

finish
