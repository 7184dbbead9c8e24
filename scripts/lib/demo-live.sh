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
CONF
# The target's parent is shared: a mount placed beneath the target propagates from there.
mount -t tmpfs -o size=8m demo "$root"
mount --make-shared "$root"
mkdir "$target"
tar -C "$d" -xf "$d/demo-1.0.osup" usr.erofs
mount -o ro,loop "$d/usr.erofs" "$target"
echo "This namespace's $target runs: $(cat "$target/version") ($(grep IMAGE_VERSION "$target/lib/os-release"))"

say "A service in its own mount namespace (a slave of ours) reads $target/version non-stop"
unshare -m --propagation unchanged bash -c "mount --make-rslave '$root' && mount --make-rshared '$root' && exec '$WATCHER' '$target/version' '$d/watcher.report'" &
watcher=$!
sleep 0.5

say "Live update to 2.0, then to 3.0: each image is verified, mounted detached, tucked beneath $target"
run "$OSUPDATE" apply "$d/demo-2.0.osup" --config "$d/osupdate.conf"
echo "the service now sees: $(nsenter -t "$watcher" -m cat "$target/version")"
sleep 0.3
run "$OSUPDATE" apply "$d/demo-3.0.osup" --config "$d/osupdate.conf"
echo "the service now sees: $(nsenter -t "$watcher" -m cat "$target/version")"
sleep 0.3
run "$OSUPDATE" status --config "$d/osupdate.conf"

kill -TERM "$watcher"
wait "$watcher" || true
say "What the service's watcher saw"
cat "$d/watcher.report"
read -r reads errors empty backsteps _ < <(sed 's/[a-z]*=//g' "$d/watcher.report")
echo "-> $reads reads, $errors errors, $empty empty reads, $backsteps steps back: no moment without /usr, never an older one."
umount -R "$root"
