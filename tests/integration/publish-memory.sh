#!/bin/bash
# Publishing and verifying keep memory bounded: `bundle create` and `bundle verify` of a 256 MiB
# image peak below 64 MiB of RSS (the image is hashed and read through windows, never mapped or
# held whole). Memory, not speed: the timings are in bench/publish and bench/verify. Also checks
# that the bundle, whose image member is copied in the kernel, is the tar any tool reads.
. "$(dirname "$0")/../lib/lib.sh"

command -v /usr/bin/time >/dev/null || { echo "SKIP: /usr/bin/time (package time) is not installed"; exit 77; }
command -v mkfs.erofs >/dev/null || { echo "SKIP: mkfs.erofs (erofs-utils) is not installed"; exit 77; }
LIMIT_KIB=$((64 * 1024))

make_keys
make_tree "$T/tree" 1
for i in 1 2 3 4; do head -c $((64 * 1024 * 1024)) /dev/urandom >"$T/tree/lib/blob$i"; done

# peak_kib CMD…: runs CMD, prints its peak RSS in KiB (its own, or a waited-for child's if larger).
peak_kib() { /usr/bin/time -f '%M' -o "$T/rss" "$@" >/dev/null 2>"$T/err" && cat "$T/rss"; }

rss=$(peak_kib "$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo --tree "$T/tree" -o "$T/t.osup") ||
        not_ok "bundle create --tree failed: $(cat "$T/err")"
size=$(stat -c %s "$T/t.osup")
[ "$size" -gt $((256 * 1024 * 1024)) ] && ok "bundle of $size bytes created from a 256 MiB tree" ||
        not_ok "bundle is only $size bytes"
[ -n "$rss" ] && [ "$rss" -lt "$LIMIT_KIB" ] && ok "bundle create --tree peaks at $rss KiB (< $LIMIT_KIB, mkfs.erofs included)" ||
        not_ok "bundle create --tree peaks at ${rss:-?} KiB, limit $LIMIT_KIB"

# The same with a given image: osupdate's own memory, no mkfs.
mkdir "$T/x"
tar -C "$T/x" -xf "$T/t.osup" || not_ok "tar cannot read the bundle"
rss=$(peak_kib "$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo --image "$T/x/usr.erofs" -o "$T/i.osup") ||
        not_ok "bundle create --image failed: $(cat "$T/err")"
[ -n "$rss" ] && [ "$rss" -lt "$LIMIT_KIB" ] && ok "bundle create --image peaks at $rss KiB (< $LIMIT_KIB)" ||
        not_ok "bundle create --image peaks at ${rss:-?} KiB, limit $LIMIT_KIB"

rss=$(peak_kib "$OSUPDATE" bundle verify "$T/t.osup" --keys "$T/keys") ||
        not_ok "bundle verify failed: $(cat "$T/err")"
[ -n "$rss" ] && [ "$rss" -lt "$LIMIT_KIB" ] && ok "bundle verify peaks at $rss KiB (< $LIMIT_KIB)" ||
        not_ok "bundle verify peaks at ${rss:-?} KiB, limit $LIMIT_KIB"

# The members tar extracts are what the signed manifest describes, byte for byte.
json=$(cat "$T/x/manifest.json")
[ "$(stat -c %s "$T/x/usr.erofs")" = "$(jq -r '.images[0].size' <<<"$json")" ] &&
        ok "extracted image has the manifest's size" || not_ok "extracted image size differs from the manifest"
if command -v veritysetup >/dev/null; then
        check "veritysetup verify accepts the extracted image and tree with the signed root" \
                veritysetup verify "$T/x/usr.erofs" "$T/x/usr.verity" "$(jq -r '.images[0].verity.root_hash' <<<"$json")"
fi
# A bundle is read with read() whatever it is: a pipe verifies like a file.
check "bundle verify from a pipe" "$OSUPDATE" bundle verify <(cat "$T/t.osup") --keys "$T/keys"

finish
