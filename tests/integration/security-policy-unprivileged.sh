#!/bin/bash
# Finding: unprivileged users steer the policy. A rule
#   [Match] Executable=*/appserver   [Policy] Mode=defer Notify=SIGHUP
# matches any process whose executable path ends in /appserver, whoever owns it:
#   (1) user nobody copies /bin/sleep to a directory of its own as "appserver" and runs it in the
#       host's mount namespace: the whole host then defers every update (and its first process,
#       here the test's shell, gets the SIGHUP);
#   (2) Notify= signals the namespace's first process (its "PID 1"), not the matched service:
#       a bystander that happens to be first gets the SIGHUP, the service never hears of it.
# Safe: (1) apply v2 switches the host at once (exit 0, host shows 2), nothing reports the host
# as deferred (no "deferred" in the output, status --json does not say policy defer for it), no
# SIGHUP reaches the test's shell or the unprivileged process. (2) A root-owned service matching
# the rule (a copy of the watcher named appserver in a root-owned directory) defers v3, and the
# SIGHUP reaches only it (its watcher counts notified>=1), never the namespace's first process
# nor another non-matching process in it.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/attack.sh"

# The test's shell is the first process of the host namespace: record a SIGHUP instead of dying.
trap 'echo hup >>"$T/hup.testshell"' HUP

setup_target
make_bundle 2
make_bundle 3
write_hup_probe
mkdir -p "$T/bin" "$T/policy.d"
printf '[Match]\nExecutable=*/appserver\n[Policy]\nMode=defer\nNotify=SIGHUP\n' >"$T/policy.d/10-appserver.conf"

# (1) nobody's own "appserver" in the host namespace
dir=$(nobody_dir)
"${NOBODY[@]}" bash -c "cp /bin/sleep '$dir/appserver' && exec '$dir/appserver' 600" &
evil=$!
NS_PIDS+=($evil)
disown $evil
spawn_ns host host
for _ in $(seq 50); do [ "$(readlink "/proc/$evil/exe" 2>/dev/null)" = "$dir/appserver" ] && break; sleep 0.1; done
[ "$(readlink "/proc/$evil/exe")" = "$dir/appserver" ] && [ "$(stat -c %u "/proc/$evil")" = 65534 ] &&
        ok "nobody runs $dir/appserver in the host namespace" ||
        not_ok "the unprivileged appserver did not start: exe $(readlink "/proc/$evil/exe" 2>&1), uid $(stat -c %u "/proc/$evil" 2>&1)"

rc=0
out=$(osup_t 30 apply "$T/v2.osup" 2>&1) || rc=$?
[ "$rc" = 0 ] && ok "(1) apply v2 (exit 0): $out" || not_ok "(1) apply v2: exit $rc: $out"
grep -q "deferred" <<<"$out" && not_ok "(1) apply reports a deferral: $out" || ok "(1) apply reports no deferral"
expect_versions "(1) the host switched at once" host=2
[ "$(cat "$TARGET/version")" = 2 ] && ok "(1) the test's shell sees 2" || not_ok "(1) the test's shell sees $(cat "$TARGET/version")"
json=$(osup_t 10 status --json 2>&1) || true
hp=$(jq -r '.namespaces[] | select(.relation == "host") | .policy' <<<"$json" 2>/dev/null || echo "?")
[ "$hp" != defer ] && [ "$hp" != "?" ] && ok "(1) status --json: the host's policy is $hp" ||
        not_ok "(1) status --json says the host's policy is $hp"
sleep 0.3
[ ! -e "$T/hup.testshell" ] && ok "(1) no SIGHUP reached the test's shell" ||
        not_ok "(1) the test's shell got $(wc -l <"$T/hup.testshell") SIGHUP(s)"
kill -0 "$evil" 2>/dev/null && ok "(1) the unprivileged appserver got no SIGHUP (still running)" ||
        not_ok "(1) the unprivileged appserver is gone (killed by a SIGHUP?)"

# (2) a root-owned service namespace: its first process is a non-matching bystander, then the
# matching service, then another non-matching process.
cp "$WATCHER" "$T/bin/appserver"
unshare -m --propagation unchanged bash -c "mount --make-rslave '$T/root' && mount --make-rshared '$T/root' && exec bash '$T/hup-probe.sh' '$T/hup.first'" &
first=$!
NS_PIDS+=($first)
disown $first
sleep 0.3
nsenter -t "$first" -m "$T/bin/appserver" "$TARGET/version" "$T/report.app" &
echo $! >"$T/pid.app"
NS_PIDS+=($!)
disown $!
nsenter -t "$first" -m bash "$T/hup-probe.sh" "$T/hup.other" &
other=$!
NS_PIDS+=($other)
disown $other
sleep 0.5
app_before=$(version_in app)

expect "(2) apply v3" 0 "-> 3" osup_t 30 apply "$T/v3.osup"
sleep 0.5
expect_versions "(2) the matching service defers v3, the host does not" app="$app_before" host=3
release_check app
[ "$RC" = 0 ] && [ "$(jq -r .pending <<<"$OUT" 2>/dev/null)" = true ] && ok "(2) release --check in the service: pending" ||
        not_ok "(2) release --check in the service: exit $RC $OUT"
[ ! -e "$T/hup.first" ] && ok "(2) no SIGHUP for the namespace's first process (not matched)" ||
        not_ok "(2) the namespace's first process (not matched) got $(wc -l <"$T/hup.first") SIGHUP(s)"
[ ! -e "$T/hup.other" ] && ok "(2) no SIGHUP for the other non-matching process" ||
        not_ok "(2) the other non-matching process got $(wc -l <"$T/hup.other") SIGHUP(s)"
[ ! -e "$T/hup.testshell" ] && ok "(2) no SIGHUP reached the test's shell" ||
        not_ok "(2) the test's shell got $(wc -l <"$T/hup.testshell") SIGHUP(s)"

check_watchers host app
[ "$(report_field app notified)" -ge 1 ] 2>/dev/null && ok "(2) the matching service was notified ($(report_field app notified))" ||
        not_ok "(2) the matching service was not notified: $(cat "$T/report.app")"
[ "$(report_field host notified)" = 0 ] && ok "(1) the host's watcher got no SIGHUP" ||
        not_ok "the host's watcher got $(report_field host notified) SIGHUP(s)"
finish
