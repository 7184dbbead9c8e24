#!/bin/bash
# A namespace whose old top is busy (an open file, a working directory inside it) still switches:
# the old top is detached lazily; the open file keeps reading the old image, new lookups see the
# new one. status --json says which namespaces have an update pending.
. "$(dirname "$0")/../lib/ns.sh"

setup_target
make_bundle 2
make_bundle 3
mkdir -p "$T/policy.d"
cp "$WATCHER" "$T/defer-watcher"
cp "$WATCHER" "$T/ctrdefer-watcher"
printf '[Match]\nExecutable=*/defer-*\n[Policy]\nMode=defer\nDeadline=1h\n' >"$T/policy.d/10-defer.conf"
printf '[Match]\nContainer=yes\nExecutable=*/ctrdefer-*\n[Policy]\nMode=defer\n' >"$T/policy.d/20-ctr.conf"

# A service that keeps the old image busy: cwd inside it, the version file open on fd 3.
unshare -m --propagation unchanged bash -c "mount --make-rslave '$T/root' && mount --make-rshared '$T/root' && cd '$TARGET/lib' && exec 3<'$TARGET/version' && exec sleep 600" &
busy=$!
NS_PIDS+=($busy)
disown $busy
WATCHER="$T/defer-watcher" spawn_ns service defer
WATCHER="$T/ctrdefer-watcher" spawn_ns container ctr
sleep 0.5

expect "apply v2 while the old image is busy" 0 "1 -> 2" osup apply "$T/v2.osup"
[ "$(nsenter -t "$busy" -m cat "$TARGET/version")" = 2 ] && ok "new lookups in the busy namespace see v2" ||
        not_ok "busy namespace sees $(nsenter -t "$busy" -m cat "$TARGET/version")"
[ "$(cat "/proc/$busy/fd/3")" = 1 ] && ok "the file it had open still reads v1" || not_ok "open file reads $(cat "/proc/$busy/fd/3")"
grep -q "IMAGE_VERSION=1" "/proc/$busy/cwd/os-release" && ok "its working directory still works (old image)" ||
        not_ok "cwd: $(ls "/proc/$busy/cwd" 2>&1)"

json=$(osup status --json)
ino=$(stat -L -c %i "/proc/$(pid_of defer)/ns/mnt")
e=$(jq -c --argjson i "$ino" '.namespaces[] | select(.inode == $i)' <<<"$json")
[ "$(jq -r .pending <<<"$e")" = true ] && [ "$(jq -r .pending_version <<<"$e")" = 2 ] && [ "$(jq -r .version <<<"$e")" = 1 ] &&
        [ "$(jq -r .pending_deadline <<<"$e")" -gt "$(date +%s)" ] && ok "status --json: the defer namespace sees v1, v2 pending with a deadline" ||
        not_ok "status: $e"
ino=$(stat -L -c %i "/proc/$busy/ns/mnt")
e=$(jq -c --argjson i "$ino" '.namespaces[] | select(.inode == $i)' <<<"$json")
[ "$(jq -r .pending <<<"$e")" = false ] && [ "$(jq -r .version <<<"$e")" = 2 ] && ok "status --json: the busy namespace is done at v2" ||
        not_ok "status: $e"

# A second update while the namespace still defers the first: both wait beneath its old top, and
# its release ends on the newest (each step it passes through is newer than the one before).
expect "apply v3 while v2 is still deferred" 0 "2 -> 3" osup apply "$T/v3.osup"
[ "$(version_in defer)" = 1 ] && [ "$(mounts_in defer)" = 3 ] && ok "the defer namespace holds v1 over v2 and v3" ||
        not_ok "defer: v$(version_in defer), $(mounts_in defer) mounts"
# The deferring container got its clones tucked from inside (right under its top): it moved
# forward to v2 before v3 went in, so nothing older can surface.
[ "$(version_in ctr)" = 2 ] && [ "$(mounts_in ctr)" = 2 ] && ok "the container moved on to v2 with v3 pending beneath" ||
        not_ok "container: v$(version_in ctr), $(mounts_in ctr) mounts"
expect "release the container" 0 "Released" osup release --pid "$(pid_of ctr)"
[ "$(version_in ctr)" = 3 ] && [ "$(mounts_in ctr)" = 1 ] && ok "the container sees v3" ||
        not_ok "container after release: v$(version_in ctr), $(mounts_in ctr) mounts"
# Bad release calls: a clear error, their own exit code, and nothing changes.
pending_before=$(sha256sum <"$T/run/pending.json")
expect "release --pid of no process" 41 "No such process 999999999" osup release --pid 999999999
expect "release --check --pid of no process" 41 "No such process" osup release --check --pid 999999999
expect "release --pid that is no number" 2 "invalid --pid" osup release --pid abc
expect "release --check with --expired" 2 "release: --check and --expired" osup release --check --expired
[ "$(sha256sum <"$T/run/pending.json")" = "$pending_before" ] && [ "$(version_in defer)" = 1 ] &&
        ok "bad release calls changed nothing" || not_ok "a bad release call changed something"
expect "release --pid" 0 "Released" osup release --pid "$(pid_of defer)"
[ "$(version_in defer)" = 3 ] && [ "$(mounts_in defer)" = 1 ] && ok "after its release the namespace sees v3, one mount" ||
        not_ok "defer after release: v$(version_in defer), $(mounts_in defer) mounts"
stop_watchers defer ctr
for n in defer ctr; do
        [ "$(report_field $n errors)" = 0 ] && [ "$(report_field $n backsteps)" = 0 ] && [ "$(report_field $n last)" = 3 ] &&
                ok "watcher $n: no error, no step back ($(report_field $n seen))" || not_ok "watcher $n: $(cat "$T/report.$n")"
done
finish
