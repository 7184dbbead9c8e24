#!/bin/bash
# Review of issue 9: `bundle create` ended by a signal at any point. Never a partial bundle at the
# output name (it is renamed there complete); SIGTERM and SIGHUP (a CI job's timeout, a closed
# terminal) leave no temporary file behind either — the image, the tree and the archive being
# written are each as large as the image — and no mkfs still writing one. SIGKILL cannot be
# caught: only the first promise holds.
. "$(dirname "$0")/../lib/lib.sh"
command -v mkfs.erofs >/dev/null || { echo "SKIP: mkfs.erofs (erofs-utils) is not installed"; exit 77; }

make_keys
make_tree "$T/tree" 1
head -c $((48 * 1024 * 1024)) /dev/urandom >"$T/tree/share/doc/big"

# trial SIGNAL DELAY: bundle create into a fresh directory, SIGNAL after DELAY seconds.
n=0
trial() {
        local sig=$1 delay=$2 d="$T/out$n" rc=0 pid
        n=$((n + 1))
        mkdir "$d"
        "$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version 1 --tree "$T/tree" -o "$d/b.osup" \
                >/dev/null 2>&1 &
        pid=$!
        sleep "$delay"
        kill "-$sig" "$pid" 2>/dev/null || true
        wait "$pid" || rc=$?
        if [ -e "$d/b.osup" ]; then
                "$OSUPDATE" bundle verify "$d/b.osup" --keys "$T/keys" >/dev/null 2>&1 &&
                        ok "$sig after ${delay}s (exit $rc): the bundle at the output name is complete" ||
                        not_ok "$sig after ${delay}s (exit $rc): a bundle at the output name that does not verify"
        else
                [ "$rc" != 0 ] && ok "$sig after ${delay}s (exit $rc): no bundle at the output name" ||
                        not_ok "$sig after ${delay}s: exit 0 without a bundle"
        fi
        echo "$sig $delay $d" >>"$T/trials"
}

for delay in 0.05 0.15 0.25 0.35 0.45 0.7; do trial TERM "$delay"; done
for delay in 0.2 0.4; do trial HUP "$delay"; done
for delay in 0.3 1; do trial KILL "$delay"; done

# Whatever mkfs was started has had time to finish (or be gone) by now.
sleep 2
while read -r sig delay d; do
        [ "$sig" = KILL ] && continue
        left=$(ls -A "$d" | grep -vx b.osup || true)
        [ -z "$left" ] && ok "$sig after ${delay}s: no temporary file left" ||
                not_ok "$sig after ${delay}s: left behind: ${left//$'\n'/ }"
done <"$T/trials"
finish
