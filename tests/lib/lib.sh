# shellcheck shell=bash
# Shared helpers for the shell integration tests. Source it; it sets -euo pipefail, makes a
# scratch directory $T (removed on exit) and counts checks. A test ends with `finish`, which
# passes only if at least one check passed and none failed; a script that exits 0 without
# reaching finish fails too (a test that checks nothing must never pass). Exit 77 (skip) is
# left alone.
set -euo pipefail

: "${OSUPDATE:?OSUPDATE must point to the osupdate binary}"
PASSED=0
FAILED=0
_finished=0
T=$(mktemp -d /tmp/osupdate-test.XXXXXX)
_cleanup_hooks=()
on_exit() { _cleanup_hooks+=("$1"); }
_run_cleanup() {
        local rc=$? h
        if [ "$rc" = 0 ] && [ "$_finished" != 1 ]; then
                echo "FAIL: ${0##*/} exited 0 without calling finish ($PASSED passed, $FAILED failed so far)"
                rc=1
        fi
        for h in "${_cleanup_hooks[@]+"${_cleanup_hooks[@]}"}"; do eval "$h" || true; done
        # Mounts made in the test's private namespace vanish with it; what cannot be removed now
        # (a lazily detached mount still busy) must not change the test's verdict.
        # Slot files are sealed immutable while used: unseal before removing.
        chattr -R -i "$T" 2>/dev/null || true
        rm -rf "$T" 2>/dev/null || true
        exit "$rc"
}
trap _run_cleanup EXIT

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
# A failure is also marked in $T: a not_ok in a subshell ( … | while …, $( … ) ) changes only the
# subshell's FAILED, and must still fail the test.
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $*"; : >>"$T/.not-ok"; }
# finish: prints the tally and exits: 0 only if at least one check passed and none failed.
finish() {
        _finished=1
        echo "$PASSED passed, $FAILED failed"
        if [ "$FAILED" -ne 0 ]; then
                exit 1
        fi
        if [ -e "$T/.not-ok" ]; then
                echo "FAIL: ${0##*/}: a check failed in a subshell, where the count above does not see it"
                exit 1
        fi
        if [ "$PASSED" -eq 0 ]; then
                echo "FAIL: ${0##*/} ran no checks: a test with zero checks fails (skip with exit 77 and a reason instead)"
                exit 1
        fi
        exit 0
}

# A listing of everything under the given paths (names, sizes, modes, content hashes) to prove
# that a failing command wrote nothing.
snapshot() {
        find "$@" -printf '%p %s %m %y\n' 2>/dev/null | sort
        find "$@" -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum
}

# expect NAME CODE REGEX CMD…: CMD exits CODE and prints (stdout+stderr) something matching REGEX.
expect() {
        local name=$1 code=$2 regex=$3 rc=0 out
        shift 3
        out=$("$@" 2>&1) || rc=$?
        if [ "$rc" -ne "$code" ]; then
                not_ok "$name: exit $rc, expected $code; output: $out"
        elif ! grep -Eq -- "$regex" <<<"$out"; then
                not_ok "$name: output does not match /$regex/: $out"
        else
                ok "$name (exit $code)"
        fi
}

# wait_until SECONDS CMD…: until CMD succeeds (0), or the time is up (1); tries every 0.05 s.
wait_until() {
        local n=$(($1 * 20))
        shift
        for _ in $(seq "$n"); do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        return 1
}

# check NAME CMD…: CMD succeeds.
check() {
        local name=$1 out
        shift
        if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name: $out"; fi
}

# Keys: k1, k2 (trusted, public halves in $T/keys), k3 (untrusted).
make_keys() {
        mkdir -p "$T/keys"
        for k in k1 k2 k3; do
                openssl genpkey -algorithm ed25519 -out "$T/$k.pem" 2>/dev/null
        done
        openssl pkey -in "$T/k1.pem" -pubout -out "$T/keys/k1.pem"
        openssl pkey -in "$T/k2.pem" -pubout -out "$T/keys/k2.pem"
}

# make_tree DIR VERSION [ID]: a small /usr tree with lib/os-release naming VERSION.
make_tree() {
        local d=$1 v=$2 id=${3:-demo}
        mkdir -p "$d/lib" "$d/bin" "$d/share/doc"
        printf 'ID=%s\nIMAGE_VERSION=%s\n' "$id" "$v" >"$d/lib/os-release"
        printf '%s\n' "$v" >"$d/version"
        printf '#!/bin/sh\necho hello %s\n' "$v" >"$d/bin/hello"
        chmod 755 "$d/bin/hello"
        head -c 200000 /dev/urandom >"$d/share/doc/blob"
        ln -sf ../lib/os-release "$d/share/os-release"
}
