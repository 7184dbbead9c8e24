#!/bin/bash
# Live and boot agree, and a live switch never leaves the running kernel without its modules.
# The live /usr (v1) has lib/modules/$(uname -r); v2 lacks it: apply stages v2 for the next boot
# (exit 42), /usr stays v1 (a watcher sees no change), state.json has v2's slot as next boot and
# staged; apply --dry-run says it depends on the image. v3 has the directory: live as usual, and
# the next boot. Then a live /usr without the directory: an image without it goes live.
. "$(dirname "$0")/../lib/ns.sh"

REL=$(uname -r)
on_exit 'chattr -R -i "$T"/state* 2>/dev/null'
# v1, the booted image, carries the running kernel's modules (make_tree adds to what is there).
mkdir -p "$T/tree1/lib/modules/$REL/kernel"
echo module >"$T/tree1/lib/modules/$REL/kernel/x.ko"
setup_target
make_bundle 2
mkdir -p "$T/tree3/lib/modules/$REL/kernel"
echo module >"$T/tree3/lib/modules/$REL/kernel/x.ko"
make_bundle 3
# v4: lib/modules/$REL is a symlink to a directory that is there: not a plain directory.
mkdir -p "$T/tree4/lib/modules/other"
ln -s other "$T/tree4/lib/modules/$REL"
make_bundle 4

spawn_ns host host
sleep 0.3
[ "$(version_in host)" = 1 ] || not_ok "the host does not start at version 1"

# --- dry run: the image is not mounted, so it depends on it ----------------------------------------
out=$(osup apply --dry-run "$T/v2.osup" 2>&1) && rc=0 || rc=$?
[ $rc = 0 ] && grep -qF "Modules:     live if the new image has lib/modules/$REL of the running kernel; if it lacks them, staged for the next boot" <<<"$out" &&
        ok "apply --dry-run names lib/modules/$REL and staging for the next boot" || not_ok "apply --dry-run (rc $rc): $out"
json=$(osup apply --dry-run --json "$T/v2.osup" 2>/dev/null)
[ "$(jq -r .modules <<<"$json")" = depends ] && [ "$(jq -r .kernel_release <<<"$json")" = "$REL" ] &&
        grep -qF "staged for the next boot" <<<"$(jq -r .modules_reason <<<"$json")" &&
        ok "apply --dry-run --json: modules depends, kernel_release $REL" || not_ok "apply --dry-run --json: $json"

# --- v2 lacks the running kernel's modules: staged for the next boot -------------------------------
osup apply "$T/v2.osup" >"$T/out" 2>"$T/err" && rc=0 || rc=$?
[ $rc = 42 ] && ok "apply of an image without lib/modules/$REL exits 42" || not_ok "apply v2: exit $rc: $(cat "$T/err")"
grep -qF "staged for the next boot: the new image lacks lib/modules/$REL of the running kernel" "$T/err" &&
        ok "the message names the kernel release: $(cat "$T/err")" || not_ok "message: $(cat "$T/err")"
sleep 0.3
[ "$(version_in host)" = 1 ] && [ "$(mounts_in host)" = 1 ] && ok "/usr still shows v1, one mount" ||
        not_ok "/usr shows $(version_in host), $(mounts_in host) mounts"
slot2=$(osup status --json | jq -r '.slots | to_entries[] | select(.value.version == "2") | .key')
nb=$(osup status --json | jq -r .next_boot)
act=$(osup status --json | jq -r .active)
[ -n "$slot2" ] && [ "$nb" = "$slot2" ] && [ "$act" = null ] &&
        [ "$(jq -r .next_boot "$T/state/state.json")" = "$(jq -r .staged "$T/state/state.json")" ] &&
        ok "state: next boot (and staged) is v2's slot $slot2, nothing active switched" || not_ok "state: v2 in '$slot2', next_boot $nb, active $act: $(cat "$T/state/state.json")"
[ "$(loops_under "$T/state")" = 0 ] && ok "the detached mount of v2 is gone (no loop device on the slots)" ||
        not_ok "$(loops_under "$T/state") loop devices left on the slots"

# --- v4: a symlink where the directory should be is not the modules directory ----------------------
osup apply "$T/v4.osup" >"$T/out" 2>"$T/err" && rc=0 || rc=$?
[ $rc = 42 ] && [ "$(version_in host)" = 1 ] && ok "lib/modules/$REL as a symlink: staged too (exit 42), /usr still v1" ||
        not_ok "apply v4 (symlink): exit $rc, /usr $(version_in host): $(cat "$T/err")"

# --- v5 has them: live, and the next boot -----------------------------------------------------------
mkdir -p "$T/tree5/lib/modules/$REL/kernel"
echo module >"$T/tree5/lib/modules/$REL/kernel/x.ko"
make_bundle 5
out=$(osup apply "$T/v5.osup" 2>&1) && rc=0 || rc=$?
sleep 0.3
st=$(osup status --json)
[ $rc = 0 ] && [ "$(version_in host)" = 5 ] && [ "$(jq -r .active <<<"$st")" = "$(jq -r .next_boot <<<"$st")" ] &&
        [ "$(jq -r .live_version <<<"$st")" = 5 ] &&
        ok "an image with lib/modules/$REL goes live and is the next boot: $out" ||
        not_ok "apply v5: exit $rc, /usr $(version_in host): $out; $st"

stop_watchers host
r=$(cat "$T/report.host")
[ "$(report_field host errors)" = 0 ] && [ "$(report_field host empty)" = 0 ] && [ "$(report_field host backsteps)" = 0 ] &&
        [ "$(report_field host last)" = 5 ] && ok "watcher: no error, no step back, v1 until v5 went live ($r)" ||
        not_ok "watcher: $r"

# --- a live /usr without lib/modules/$REL: nothing to lose, live ------------------------------------
for p in "${NS_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
NS_PIDS=()
umount -R -l "$T/root" || not_ok "cannot unmount $T/root"
# The slots' files are sealed (immutable): the first state moves aside, unsealed when the test ends.
mv "$T/state" "$T/state.first"
rm -rf "$T/run" "$T"/tree* "$T"/v*.osup "$T/v1.erofs"
setup_target
make_bundle 2
out=$(osup apply "$T/v2.osup" 2>&1) && rc=0 || rc=$?
[ $rc = 0 ] && [ "$(cat "$TARGET/version")" = 2 ] && [ "$(osup status --json | jq -r .next_boot)" = "$(osup status --json | jq -r .active)" ] &&
        ok "live /usr without lib/modules/$REL: an image without it goes live: $out" ||
        not_ok "old without modules: exit $rc, /usr $(cat "$TARGET/version"): $out"

finish
