# shellcheck shell=bash
# Helpers for the privileged live-update tests. Source it first thing: it re-executes the test in
# a private mount namespace (nothing mounted here is seen outside it), then sources lib.sh.
# It builds the seed's layout under $T/root, a tmpfs made *shared* (propagation of a mount placed
# beneath is computed from the target's parent), with the target at $T/root/usr.

if [ -z "${OSUPDATE_IN_PRIVATE_NS:-}" ]; then
        if [ "$(id -u)" != 0 ]; then
                echo "SKIP: needs root (mount namespaces, loop devices)"
                exit 77
        fi
        if ! unshare -m --propagation private true 2>/dev/null; then
                echo "SKIP: cannot create a mount namespace here"
                exit 77
        fi
        if [ ! -e /dev/loop-control ]; then
                echo "SKIP: no loop devices (/dev/loop-control)"
                exit 77
        fi
        export OSUPDATE_IN_PRIVATE_NS=1
        exec unshare -m --propagation private bash "$0" "$@"
fi

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${WATCHER:?WATCHER must point to the watcher helper}"

TARGET="$T/root/usr"
CONF="$T/osupdate.conf"
NS_PIDS=()
# Everything left in this namespace (a deadline timer osupdate started, say) goes with the test.
kill_namespace() {
        local me p
        me=$(stat -L -c %i /proc/self/ns/mnt)
        for p in /proc/[0-9]*; do
                p=${p#/proc/}
                [ "$p" = $$ ] && continue
                [ "$(stat -L -c %i "/proc/$p/ns/mnt" 2>/dev/null)" = "$me" ] && kill -KILL "$p" 2>/dev/null
        done
        return 0
}
on_exit 'for p in "${NS_PIDS[@]+"${NS_PIDS[@]}"}"; do kill -KILL "$p" 2>/dev/null; done; kill_namespace; umount -R -l "$T/root" 2>/dev/null'

osup() { "$OSUPDATE" "$@" --config "$CONF"; }

# make_bundle VERSION [create options…]: $T/v$VERSION.osup from a tree whose version file says VERSION.
make_bundle() {
        local v=$1
        shift
        make_tree "$T/tree$v" "$v"
        "$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version "$v" --tree "$T/tree$v" \
                -o "$T/v$v.osup" "$@" >/dev/null
}

# setup_target: keys, config, the shared parent and version 1 mounted at the target (the image
# the machine "booted" with, not from a slot).
setup_target() {
        make_keys
        # StateDirectory and RuntimeDirectory do not exist yet: osupdate creates them.
        mkdir -p "$T/root"
        cat >"$CONF" <<CONF
[Update]
Target=$TARGET
StateDirectory=$T/state
KeysDirectory=$T/keys
RuntimeDirectory=$T/run
PolicyDirectory=$T/policy.d
CONF
        mount -t tmpfs -o size=16m osupdate-test "$T/root"
        mount --make-shared "$T/root"
        mkdir "$TARGET"
        make_bundle 1
        tar -C "$T" -xf "$T/v1.osup" usr.erofs
        mv "$T/usr.erofs" "$T/v1.erofs"
        mount -o ro,loop "$T/v1.erofs" "$TARGET"
}

# spawn_ns KIND NAME [PARENT_PID]: a process in a new mount namespace that watches the version
# file; its PID goes to $T/pid.NAME.
#   service:   root (the target's parent) a slave of its parent's peer group, shared in its own
#   container: its own peer group, no propagation from the host
#   host:      a watcher in this (the host's) namespace
spawn_ns() {
        local kind=$1 name=$2 parent=${3:-} setup enter=()
        [ -n "$parent" ] && enter=(nsenter -t "$parent" -m)
        case $kind in
        service) setup="mount --make-rslave '$T/root' && mount --make-rshared '$T/root'" ;;
        container) setup="mount --make-rprivate '$T/root' && mount --make-rshared '$T/root'" ;;
        host) setup=true ;;
        esac
        if [ "$kind" = host ]; then
                "$WATCHER" "$TARGET/version" "$T/report.$name" &
        else
                "${enter[@]}" unshare -m --propagation unchanged \
                        bash -c "$setup && exec '$WATCHER' '$TARGET/version' '$T/report.$name'" &
        fi
        echo $! >"$T/pid.$name"
        NS_PIDS+=($!)
        disown $! # no "Killed" job report when the test ends them
}

pid_of() { cat "$T/pid.$1"; }

# in_ns NAME CMD…: runs CMD in NAME's mount namespace.
in_ns() {
        local name=$1
        shift
        nsenter -t "$(pid_of "$name")" -m "$@"
}

version_in() { in_ns "$1" cat "$TARGET/version"; }
mounts_in() { in_ns "$1" awk -v t="$TARGET" '$5 == t' /proc/self/mountinfo | wc -l; }

# stop_watchers NAME…: SIGTERM, wait for the reports.
stop_watchers() {
        local n
        for n in "$@"; do kill -TERM "$(pid_of "$n")" 2>/dev/null || true; done
        for n in "$@"; do
                for _ in $(seq 100); do [ -s "$T/report.$n" ] && break; sleep 0.05; done
        done
}

report_field() { grep -o "$2=[^ ]*" "$T/report.$1" | cut -d= -f2; }

# loops_under DIR: loop devices whose backing file is under DIR.
loops_under() {
        local n=0 f
        for f in /sys/block/loop*/loop/backing_file; do
                [ -r "$f" ] && grep -q "^$1/" "$f" 2>/dev/null && n=$((n + 1))
        done
        echo "$n"
}

# bundle_with VERSION SHELL-CODE: $T/v$VERSION.osup (signed by k1, OS demo) from a tree made by
# make_tree in $d, after SHELL-CODE has shaped it (e.g. its lib/os-release).
bundle_with() {
        local v=$1 d="$T/tree$1"
        make_tree "$d" "$v"
        eval "$2"
        "$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version "$v" --tree "$d" \
                -o "$T/v$v.osup" >/dev/null
}
