#!/bin/bash
# The live part of scripts/demo, run inside a throwaway private mount namespace:
# demo-live.sh OSUPDATE WATCHER DIR — DIR holds release.pem, keys.d/, demo-1.0.osup … demo-3.0.osup.
set -euo pipefail
OSUPDATE=$1 WATCHER=$2 d=$3
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

root="$d/root"
target="$root/usr"
mkdir -p "$root" "$d/state" "$d/run"
cat >"$d/osupdate.conf" <<CONF
[Update]
Target=$target
StateDirectory=$d/state
KeysDirectory=$d/keys.d
RuntimeDirectory=$d/run
PolicyDirectory=$d/policy.d
CONF
# A policy: services whose executable is a "cooperative" watcher defer; everything else is forced.
mkdir -p "$d/policy.d"
cp "$WATCHER" "$d/cooperative-watcher"
printf '[Match]\nExecutable=*/cooperative-*\n[Policy]\nMode=defer\nDeadline=10min\nNotify=SIGHUP\n' >"$d/policy.d/50-cooperative.conf"
# The target's parent is shared: a mount placed beneath the target propagates from there.
mount -t tmpfs -o size=8m demo "$root"
mount --make-shared "$root"
mkdir "$target"
tar -C "$d" -xf "$d/demo-1.0.osup" usr.erofs
mount -o ro,loop "$d/usr.erofs" "$target"
echo "This namespace's $target runs: $(cat "$target/version") ($(grep IMAGE_VERSION "$target/lib/os-release"))"

say "Two services in their own mount namespaces (slaves of ours) read $target/version non-stop"
echo "  'force' switches with the host; 'cooperative' defers (policy.d/50-cooperative.conf) until it releases"
unshare -m --propagation unchanged bash -c "mount --make-rslave '$root' && mount --make-rshared '$root' && exec '$WATCHER' '$target/version' '$d/watcher.report'" &
watcher=$!
unshare -m --propagation unchanged bash -c "mount --make-rslave '$root' && mount --make-rshared '$root' && exec '$d/cooperative-watcher' '$target/version' '$d/coop.report'" &
coop=$!
sleep 0.5

say "Live update to 2.0, then to 3.0: each image is verified, mounted detached, tucked beneath $target"
sees() { echo "  force service sees $(nsenter -t "$watcher" -m cat "$target/version"), cooperative service sees $(nsenter -t "$coop" -m cat "$target/version")"; }
run "$OSUPDATE" apply "$d/demo-2.0.osup" --config "$d/osupdate.conf"
sees
sleep 0.3
say "Before 3.0: what would it do? (a dry run verifies the whole bundle and asks the planner; nothing changes)"
run "$OSUPDATE" apply --dry-run "$d/demo-3.0.osup" --config "$d/osupdate.conf"
run "$OSUPDATE" apply "$d/demo-3.0.osup" --config "$d/osupdate.conf"
sees
sleep 0.3
say "The cooperative service asks whether an update waits for it, then releases at a safe point"
run nsenter -t "$coop" -m "$OSUPDATE" release --check --config "$d/osupdate.conf"
run nsenter -t "$coop" -m "$OSUPDATE" release --config "$d/osupdate.conf"
sees
sleep 0.3
run "$OSUPDATE" status --config "$d/osupdate.conf"
say "Never back: the signed 2.0 again is refused, whoever still runs what"
rc=0
run "$OSUPDATE" apply "$d/demo-2.0.osup" --config "$d/osupdate.conf" || rc=$?
echo "-> refused, exit code $rc (21: not newer than the newest version live anywhere)"

kill -TERM "$watcher" "$coop"
wait "$watcher" "$coop" || true
say "What the services' watchers saw"
for r in watcher coop; do
        name=force
        [ "$r" = coop ] && name=cooperative
        read -r reads errors empty backsteps first last seen notified < <(sed 's/[a-z]*=//g' "$d/$r.report")
        echo "$name: $reads reads, $errors errors, $empty empty reads, $backsteps steps back; versions seen: $seen (notified: $notified)"
done
echo "-> no moment without /usr, never an older one, in either service."
# The deadline timer apply left behind lives in this throwaway namespace: it goes with it.
me=$(stat -L -c %i /proc/self/ns/mnt)
for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != $$ ] && [ "$(stat -L -c %i "/proc/$p/ns/mnt" 2>/dev/null)" = "$me" ] && kill -KILL "$p" 2>/dev/null
done
umount -R "$root"
