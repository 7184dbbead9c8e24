#!/bin/bash
# Finding: unprivileged users read root-only files through status. In a user+mount namespace of
# its own, user nobody mounts a tmpfs over the target's path and makes lib/os-release a symlink
# to a file only root may read ($T/secret, mode 0600). Namespace discovery reads
# /proc/PID/root/<target>/lib/os-release as root, following the symlink, and `status` prints the
# "version" it found there: the secret's VERSION_ID/IMAGE_VERSION.
# Safe: neither `status` nor `status --json` prints secret-XYZ (they still succeed), and an apply
# in the same situation succeeds without printing it either.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/attack.sh"

setup_target
make_bundle 2
mkdir -p "$T/policy.d"
printf '[Match]\nUnit=no-such-service.service\n[Policy]\nMode=defer\n' >"$T/policy.d/10-unrelated.conf"
printf 'ID=demo\nVERSION_ID=secret-XYZ\nIMAGE_VERSION=secret-XYZ\n' >"$T/secret"
chmod 0600 "$T/secret"
dir=$(nobody_dir)

if ! "${NOBODY[@]}" unshare -U -r -m true 2>"$T/userns.err"; then
        echo "SKIP: user nobody cannot create a user namespace (user.max_user_namespaces=$(sysctl -n user.max_user_namespaces 2>/dev/null)," \
                "kernel.unprivileged_userns_clone=$(sysctl -n kernel.unprivileged_userns_clone 2>/dev/null || echo n/a)): $(cat "$T/userns.err")"
        exit 77
fi
"${NOBODY[@]}" cat "$T/secret" >/dev/null 2>&1 && not_ok "nobody can read the secret itself (test setup)" ||
        ok "nobody cannot read $T/secret itself"

"${NOBODY[@]}" unshare -U -r -m bash -c "mount -t tmpfs leak '$TARGET' && mkdir '$TARGET/lib' && ln -s '$T/secret' '$TARGET/lib/os-release' &&
        echo 1 >'$TARGET/version' && touch '$dir/ready' && exec sleep 600" 2>"$T/leak.err" &
leak=$!
NS_PIDS+=($leak)
disown $leak
wait_for "$dir/ready" 50 && ok "nobody holds a namespace whose lib/os-release points at the secret" ||
        not_ok "the attacker's namespace did not come up: $(cat "$T/leak.err")"

no_secret() { # no_secret WHAT CMD…: CMD succeeds and prints nothing of the secret
        local what=$1 rc=0 out
        shift
        out=$("$@" 2>&1) || rc=$?
        if [ "$rc" != 0 ]; then
                not_ok "$what: exit $rc: $(head -c 500 <<<"$out")"
        elif grep -q "secret-XYZ" <<<"$out"; then
                not_ok "$what prints the secret: $(grep "secret-XYZ" <<<"$out" | head -3)"
        else
                ok "$what: nothing of the secret"
        fi
}
no_secret "status" osup_t 10 status
no_secret "status --json" osup_t 10 status --json
no_secret "apply v2" osup_t 20 apply "$T/v2.osup"
no_secret "status after apply" osup_t 10 status --json
finish
