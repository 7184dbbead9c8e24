#!/bin/bash
# Finding: unprivileged users stall the updater. Any user can create a user+mount namespace,
# mount a tmpfs over the target's path in it and put a FIFO at lib/os-release. Namespace
# discovery (apply with any policy rule, status always) opens /proc/PID/root/<target>/lib/os-release
# of every namespace as root and blocks forever on the FIFO: apply hangs holding the lock (every
# later update fails "busy" until it is killed), status hangs.
# Safe: with nobody's namespace alive, `apply v2` finishes (exit 0) well within its timeout and
# the host and a service show 2; `status` and `status --json` finish; a later `apply v3` succeeds
# (never exit 20, busy). No watcher sees an error or a step back.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/attack.sh"

setup_target
make_bundle 2
make_bundle 3
mkdir -p "$T/policy.d"
# Any rule makes apply look at every namespace (without rules it only unmounts in the host).
printf '[Match]\nUnit=no-such-service.service\n[Policy]\nMode=defer\n' >"$T/policy.d/10-unrelated.conf"
dir=$(nobody_dir)

if ! "${NOBODY[@]}" unshare -U -r -m true 2>"$T/userns.err"; then
        echo "SKIP: user nobody cannot create a user namespace (user.max_user_namespaces=$(sysctl -n user.max_user_namespaces 2>/dev/null)," \
                "kernel.unprivileged_userns_clone=$(sysctl -n kernel.unprivileged_userns_clone 2>/dev/null || echo n/a)): $(cat "$T/userns.err")"
        exit 77
fi

"${NOBODY[@]}" unshare -U -r -m bash -c "mount -t tmpfs stall '$TARGET' && mkdir '$TARGET/lib' && mkfifo '$TARGET/lib/os-release' &&
        echo 1 >'$TARGET/version' && touch '$dir/ready' && exec sleep 600" 2>"$T/stall.err" &
stall=$!
NS_PIDS+=($stall)
disown $stall
wait_for "$dir/ready" 50 && ok "nobody holds a namespace with a FIFO at lib/os-release" ||
        not_ok "the attacker's namespace did not come up: $(cat "$T/stall.err")"

spawn_ns host host
spawn_ns service svc
sleep 0.3

start=$(date +%s)
expect "apply v2 finishes despite the FIFO" 0 "1 -> 2" osup_t 15 apply "$T/v2.osup"
took=$(($(date +%s) - start))
[ "$took" -lt 10 ] && ok "apply v2 took ${took}s" || not_ok "apply v2 took ${took}s"
expect_versions "after v2" host=2 svc=2
expect "status finishes" 0 "Namespaces:" osup_t 8 status
expect "status --json finishes" 0 "live_version" osup_t 8 status --json
rc=0
out=$(osup_t 15 apply "$T/v3.osup" 2>&1) || rc=$?
[ "$rc" = 0 ] && ok "a later apply v3 succeeds" || not_ok "apply v3: exit $rc (20 = busy, 124 = timed out): $out"
expect_versions "after v3" host=3 svc=3

check_watchers host svc
finish
