# shellcheck shell=bash
# Helpers for the security tests (tests/integration/security-*.sh), which reproduce attacks on the
# updater and check the safe outcome. Source it after ns.sh (it uses $T, $CONF, $TARGET, in_ns…).

STATE="$T/state"
# Slots may be sealed (immutable) while in use: unseal them so the scratch directory can go.
on_exit 'chattr -R -i "$T/state" 2>/dev/null || true'

# osup_t SECS ARGS…: osup under a timeout, so a hang is a failed check (exit 124), never a hung test.
osup_t() {
        local secs=$1
        shift
        timeout -k 5 "$secs" "$OSUPDATE" "$@" --config "$CONF"
}

# expect_versions WHAT NAME=V…: the version file each named namespace sees.
expect_versions() {
        local what=$1 pair name want got bad=""
        shift
        for pair in "$@"; do
                name=${pair%=*} want=${pair#*=}
                got=$(version_in "$name" 2>&1 || true)
                [ "$got" = "$want" ] || bad+=" $name=$got(want $want)"
        done
        if [ -z "$bad" ]; then ok "$what: $*"; else not_ok "$what:$bad"; fi
}

# check_watchers NAME…: stops the watchers; each must have seen no error, no empty read and no step back.
check_watchers() {
        local n
        stop_watchers "$@"
        for n in "$@"; do
                echo "# $n: $(cat "$T/report.$n" 2>/dev/null || echo 'no report')"
                if [ "$(report_field "$n" errors)" = 0 ] && [ "$(report_field "$n" empty)" = 0 ] &&
                        [ "$(report_field "$n" backsteps)" = 0 ]; then
                        ok "watcher $n: no error, no step back ($(report_field "$n" seen))"
                else
                        not_ok "watcher $n: $(cat "$T/report.$n" 2>/dev/null || echo 'no report')"
                fi
        done
}

# state_snapshot: everything a refused command must leave as it was (slots, state.json, pending.json).
state_snapshot() {
        local p paths=()
        for p in "$STATE" "$T/run/pending.json"; do [ -e "$p" ] && paths+=("$p"); done
        [ ${#paths[@]} -eq 0 ] || snapshot "${paths[@]}"
}

# expect_unchanged WHAT BEFORE: the state is still BEFORE (a state_snapshot).
expect_unchanged() {
        local what=$1 before=$2 after
        after=$(state_snapshot)
        if [ "$after" = "$before" ]; then
                ok "$what: state.json, slots and pending.json unchanged"
        else
                not_ok "$what: the state changed: $(diff <(echo "$before") <(echo "$after") | head -20)"
        fi
}

# slot_with VERSION: the name of the slot state.json says holds VERSION.
slot_with() {
        jq -r --arg v "$1" '.slots | to_entries[] | select(.value.version == $v) | .key' "$STATE/state.json" | head -1
}

# make_signed_bundle OUT VERSION KEY [create options…]: a bundle for VERSION signed by KEY (say the
# untrusted k3), from a tree that also carries an "evil" marker file.
make_signed_bundle() {
        local out=$1 v=$2 key=$3
        shift 3
        make_tree "$T/tree-$(basename "$out")" "$v"
        echo evil >"$T/tree-$(basename "$out")/evil"
        "$OSUPDATE" bundle create --key "$key" --os-id demo --version "$v" --tree "$T/tree-$(basename "$out")" \
                -o "$out" "$@" >/dev/null
}

# slot_replace SLOT BUNDLE [WHICH…]: replaces files of slots/SLOT with the members of BUNDLE, as an
# attacker with write access to the state directory (or the disk) would. WHICH names slot files (image, verity,
# manifest.json, manifest.sig); all four by default.
slot_replace() {
        local slot=$1 bundle=$2 d f
        shift 2
        local which=("$@")
        [ ${#which[@]} -gt 0 ] || which=(manifest.json manifest.sig image verity)
        d=$(mktemp -d "$T/extract.XXXXXX")
        tar -C "$d" -xf "$bundle"
        for f in "${which[@]}"; do
                local dst="$STATE/slots/$slot/$f" src="$d/$f" sealed=0
                case $f in
                image) src="$d/usr.erofs" ;;
                verity) src="$d/usr.verity" ;;
                esac
                # An attacker with the disk in hand (or root) is not stopped by an immutable flag:
                # lift it for the swap and put it back, so the slot looks as it did.
                if lsattr "$dst" 2>/dev/null | cut -d' ' -f1 | grep -q i; then
                        sealed=1
                        chattr -i "$dst"
                fi
                cp "$src" "$dst"
                [ "$sealed" = 0 ] || chattr +i "$dst"
        done
        rm -rf "$d"
}

# "${NOBODY[@]}" CMD…: CMD as user nobody, with no groups and no capabilities. An array, not a
# function: backgrounded, a function would be a subshell and $! not the process itself.
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# nobody_dir: a directory user nobody may write ($T is made traversable for it).
nobody_dir() {
        chmod o+x "$T"
        mkdir -p "$T/nobody"
        chown 65534:65534 "$T/nobody"
        echo "$T/nobody"
}

# $T/hup-probe.sh FILE: a process that appends "hup" to FILE for each SIGHUP it receives (a
# bystander that no policy rule matches).
write_hup_probe() {
        cat >"$T/hup-probe.sh" <<'EOF'
trap 'echo hup >>"$1"' HUP
trap 'exit 0' TERM
while :; do sleep 0.1 & wait $!; done
EOF
}

# wait_for FILE [TRIES]: until FILE exists (0.1 s a try).
wait_for() {
        local i
        for i in $(seq "${2:-100}"); do
                [ -e "$1" ] && return 0
                sleep 0.1
        done
        return 1
}

# release_check NAME: runs `osupdate release --check` inside NAME's namespace; sets RC and OUT.
release_check() {
        RC=0
        OUT=$(in_ns "$1" timeout -k 5 20 "$OSUPDATE" release --check --config "$CONF" 2>&1) || RC=$?
}
