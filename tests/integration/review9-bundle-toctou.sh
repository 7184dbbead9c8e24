#!/bin/bash
# Review of issue 9: `bundle create --image` hashes the image, then copies it into the bundle by
# its name. If the image changes in between (a build still writing it), the bundle must not be
# made: a bundle that exits 0 must verify. Before, it exited 0 with an image that did not match
# its own signed root hash (every device would refuse it).
. "$(dirname "$0")/../lib/lib.sh"
command -v mkfs.erofs >/dev/null || { echo "SKIP: mkfs.erofs (erofs-utils) is not installed"; exit 77; }

make_keys
make_tree "$T/tree" 1
head -c $((160 * 1024 * 1024)) /dev/urandom >"$T/tree/share/doc/big"
mkfs.erofs --quiet "$T/img.erofs" "$T/tree" >/dev/null
truncate -s %4096 "$T/img.erofs"
size=$(stat -c %s "$T/img.erofs")

# trial WHEN GLOB: while bundle create runs, once GLOB exists under $T/out, overwrite 4 bytes of
# the image near its end.
trial() {
        local when=$1 glob=$2 rc=0 pid hit=0
        rm -rf "$T/out" && mkdir "$T/out"
        "$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version 1 --image "$T/img.erofs" \
                -o "$T/out/b.osup" >"$T/create.log" 2>&1 &
        pid=$!
        for _ in $(seq 20000); do
                # shellcheck disable=SC2086 # a glob
                if compgen -G "$T/out/$glob" >/dev/null && kill -0 "$pid" 2>/dev/null; then
                        printf 'EVIL' | dd of="$T/img.erofs" bs=1 seek=$((size - 8192)) conv=notrunc status=none
                        hit=1
                        break
                fi
                kill -0 "$pid" 2>/dev/null || break
        done
        wait "$pid" || rc=$?
        if [ "$hit" = 0 ]; then
                echo "note: $when: bundle create finished before the image could be changed"
        fi
        if [ "$rc" = 0 ]; then
                "$OSUPDATE" bundle verify "$T/out/b.osup" --keys "$T/keys" >"$T/verify.log" 2>&1 &&
                        ok "$when: exit 0, and the bundle verifies" ||
                        not_ok "$when: exit 0, but the bundle does not verify: $(cat "$T/verify.log")"
        else
                grep -q "changed while" "$T/create.log" && [ ! -e "$T/out/b.osup" ] &&
                        ok "$when: refused (exit $rc): $(cat "$T/create.log")" ||
                        not_ok "$when: exit $rc: $(cat "$T/create.log"), bundle $(ls "$T/out")"
        fi
        left=$(ls -A "$T/out" | grep -vx b.osup || true)
        [ -z "$left" ] && ok "$when: no temporary file left" || not_ok "$when: left: $left"
}

trial "changed while the archive is written" "b.osup.tmp*"
trial "changed while the tree is made" ".b.osup.verity.*"
finish
