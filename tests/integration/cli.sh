#!/bin/bash
# The command line itself: every verb's --help (also -h, `help VERB`, `--help VERB`) on stdout with
# exit 0; global options before the verb, after it and mixed, with the same effect; usage errors
# that name the verb (exit 2); -q and --no-pager. No mounts: a configuration under $T.
. "$(dirname "$0")/../lib/lib.sh"

CONF=$T/osupdate.conf
mkdir -p "$T/usr"
cat >"$CONF" <<CONF
[Update]
Target=$T/usr
StateDirectory=$T/state
KeysDirectory=$T/keys
RuntimeDirectory=$T/run
PolicyDirectory=$T/policy.d
CONF

# run CMD…: $out, $err, $rc of CMD.
run() {
        rc=0
        "$@" >"$T/out" 2>"$T/err" || rc=$?
        out=$(cat "$T/out")
        err=$(cat "$T/err")
}

# The verbs, as the overview lists them ("bundle create", "apply", …, "help").
mapfile -t verbs < <("$OSUPDATE" --help | sed -nE 's/^  osupdate ((bundle|channel|lock) [a-z-]+|[a-z-]+)( .*)?$/\1/p' | awk '!seen[$0]++')
[ "${#verbs[@]}" -ge 11 ] && ok "the overview lists ${#verbs[@]} verbs: ${verbs[*]}" ||
        not_ok "the overview lists only: ${verbs[*]}"

# options_in TEXT: the option spellings of the lines that describe options ("  -q, --quiet   …").
options_in() { grep -oE '^  (-[a-zA-Z], )?--[a-z-]+' <<<"$1" | tr -d ',' | tr ' ' '\n' | grep . | sort -u; }

run "$OSUPDATE" --help
overview=$out
[ "$rc" = 0 ] && [ -z "$err" ] && grep -q '^Usage: osupdate' <<<"$out" && ok "--help: overview on stdout, exit 0" ||
        not_ok "--help: exit $rc, stderr: $err"
run "$OSUPDATE" help
[ "$rc" = 0 ] && [ "$out" = "$overview" ] && ok "help: the same overview" || not_ok "help: exit $rc"
run "$OSUPDATE" -h
[ "$rc" = 0 ] && [ "$out" = "$overview" ] && ok "-h: the same overview" || not_ok "-h: exit $rc"
expect "no verb at all: the overview, exit 2" 2 '^Usage: osupdate' "$OSUPDATE"

all_options=""
for v in "${verbs[@]}"; do
        # shellcheck disable=SC2086 # "bundle create" is two words
        run "$OSUPDATE" $v --help
        text=$out
        if [ "$rc" = 0 ] && [ -z "$err" ] && grep -q "^Usage: osupdate $v" <<<"$out"; then
                ok "$v --help: usage on stdout, exit 0, nothing on stderr"
        else
                not_ok "$v --help: exit $rc, stdout: $out, stderr: $err"
        fi
        forms=("help $v")
        # The other spellings once: they take the same path for every verb.
        [ "$v" = "${verbs[0]}" ] && forms+=("$v -h" "--help $v" "-q $v --help")
        for form in "${forms[@]}"; do
                # shellcheck disable=SC2086
                run "$OSUPDATE" $form
                [ "$rc" = 0 ] && [ -z "$err" ] && [ "$out" = "$text" ] && ok "'osupdate $form' prints the same help" ||
                        not_ok "'osupdate $form': exit $rc, stderr: $err, differs: $(diff <(echo "$text") <(echo "$out"))"
        done
        opts=$(options_in "$text")
        grep -qx -- --help <<<"$opts" && ok "$v --help lists its options (${opts//$'\n'/ })" || not_ok "$v --help: options: $opts"
        all_options+=$opts$'\n'
        # Unknown options name the verb and point to its help.
        # shellcheck disable=SC2086
        run "$OSUPDATE" $v --frobnicate
        [ "$rc" = 2 ] && [ "$err" = "osupdate: error: $v: unknown option '--frobnicate'. See 'osupdate $v --help'." ] &&
                ok "$v --frobnicate: exit 2, names the verb" || not_ok "$v --frobnicate: exit $rc: $err"
done
missing=$(comm -23 <(grep . <<<"$all_options" | sort -u) <(options_in "$overview"))
[ -z "$missing" ] && ok "--help lists every option of every verb" || not_ok "--help lacks: $missing"
grep -q -- '--raise-floor' <<<"$overview" && grep -q -- '--not-before' <<<"$overview" &&
        ok "--help lists --raise-floor and --not-before" || not_ok "--help lacks verb options"

run "$OSUPDATE" bundle --help
[ "$rc" = 0 ] && [ -z "$err" ] && grep -q 'osupdate bundle create' <<<"$out" && grep -q 'osupdate bundle verify' <<<"$out" &&
        ok "bundle --help lists the bundle verbs" || not_ok "bundle --help: exit $rc: $out $err"
group=$out
run "$OSUPDATE" help bundle
[ "$rc" = 0 ] && [ "$out" = "$group" ] && ok "help bundle: the same" || not_ok "help bundle: exit $rc"

# Global options before the verb, after it, mixed, and as --option=value: the same result.
norm() { jq -S 'del(.namespaces)' "$T/out"; }
run "$OSUPDATE" status --json --config "$CONF"
[ "$rc" = 0 ] && [ "$(jq -r .target "$T/out")" = "$T/usr" ] && ok "status --json --config: the configured target" ||
        not_ok "status --json --config: exit $rc: $err"
after=$(norm)
for form in "--config $CONF status --json" "--json --config $CONF status" "--json status --config $CONF" \
        "--config=$CONF --no-pager status --json" "status --no-pager --json --config=$CONF"; do
        # shellcheck disable=SC2086
        run "$OSUPDATE" $form
        [ "$rc" = 0 ] && [ "$(norm)" = "$after" ] && ok "'osupdate ${form//$T/\$T}' does the same" ||
                not_ok "'osupdate $form': exit $rc: $err"
done
expect "gc with --config before the verb" 0 '^Freed 0 slot' "$OSUPDATE" --config "$CONF" gc

make_keys
make_tree "$T/tree" 2
check "bundle create with global -q before the verb" "$OSUPDATE" -q bundle create --key "$T/k1.pem" --version 2 \
        --os-id demo --tree "$T/tree" -o "$T/v2.osup"
expect "--keys before bundle verify" 0 "v2.osup: OK" "$OSUPDATE" --keys "$T/keys" bundle verify "$T/v2.osup"
expect "--keys before bundle verify: the keys are used" 12 "No trusted keys in $T/usr" \
        "$OSUPDATE" --keys "$T/usr" bundle verify "$T/v2.osup"
expect "--json before bundle info" 0 '"verified": false' "$OSUPDATE" --json bundle info "$T/v2.osup"
run "$OSUPDATE" apply --dry-run "$T/v2.osup" --keys "$T/keys" --config "$CONF"
want="$rc $out $err"
grep -q "$T/usr" <<<"$err$out" && ok "apply --dry-run … --config: uses the configuration (exit $rc)" ||
        not_ok "apply --dry-run: $want"
run "$OSUPDATE" --config "$CONF" --keys "$T/keys" apply --dry-run "$T/v2.osup"
[ "$rc $out $err" = "$want" ] && ok "--config --keys before apply: the same result" || not_ok "before: $rc $out $err"
run "$OSUPDATE" --keys "$T/keys" apply "$T/v2.osup" --dry-run --config "$CONF"
[ "$rc $out $err" = "$want" ] && ok "global options mixed: the same result" || not_ok "mixed: $rc $out $err"

# Usage errors: exit 2, naming the verb.
expect "a global option the verb cannot use, before it" 2 "error: gc: option '--keys' does not apply to gc\. See 'osupdate gc --help'" \
        "$OSUPDATE" --keys "$T/keys" gc --config "$CONF"
expect "… and after it" 2 "error: gc: option '--keys' does not apply to gc" "$OSUPDATE" gc --keys "$T/keys"
expect "another verb's option" 2 "error: status: option '--dry-run' does not apply to status" "$OSUPDATE" status --dry-run
expect "a verb's option before the verb" 2 "error: option '--dry-run' goes after the verb" \
        "$OSUPDATE" --dry-run apply "$T/v2.osup"
expect "an unknown option before the verb" 2 "error: unknown option '--frobnicate'\. See 'osupdate --help'" \
        "$OSUPDATE" --frobnicate status
expect "an option without its value" 2 "error: status: option '--config' needs an argument" "$OSUPDATE" status --config
expect "a flag given a value" 2 "error: status: option '--json' takes no value" "$OSUPDATE" status --json=yes
expect "apply without SOURCE" 2 "error: apply: missing SOURCE\. See 'osupdate apply --help'" "$OSUPDATE" apply
expect "bundle info without BUNDLE" 2 "error: bundle info: missing BUNDLE" "$OSUPDATE" bundle info
expect "status with an operand" 2 "error: status: unexpected argument 'now'" "$OSUPDATE" status now
expect "apply --staged with a SOURCE" 2 "error: apply: --staged takes no SOURCE" "$OSUPDATE" apply --staged "$T/v2.osup"
expect "bundle without its verb" 2 "bundle needs a verb: create, info, verify" "$OSUPDATE" bundle
expect "an unknown bundle verb" 2 "unknown bundle verb \"sign\"" "$OSUPDATE" bundle sign
expect "an unknown verb" 2 "unknown command \"frobnicate\"\. See 'osupdate --help'" "$OSUPDATE" frobnicate
expect "help for an unknown verb" 2 "unknown command \"frobnicate\"" "$OSUPDATE" help frobnicate
expect "--version" 0 '^osupdate [0-9]' "$OSUPDATE" --version

# -q: confirmations and informational messages go, errors stay.
run "$OSUPDATE" -q gc --config "$CONF"
[ "$rc" = 0 ] && [ -z "$out$err" ] && ok "-q gc: nothing printed, exit 0" || not_ok "-q gc: exit $rc: $out $err"
run "$OSUPDATE" gc --quiet --config "$CONF"
[ "$rc" = 0 ] && [ -z "$out$err" ] && ok "gc --quiet: nothing printed" || not_ok "gc --quiet: $out $err"
run "$OSUPDATE" --quiet bundle verify "$T/no-such.osup" --keys "$T/keys"
[ "$rc" = 3 ] && grep -q "^osupdate: error: .*no-such.osup" <<<"$err" && ok "-q keeps errors (exit 3)" ||
        not_ok "-q bundle verify of a missing file: exit $rc: $err"
run "$OSUPDATE" -q --config "$CONF" status
[ "$rc" = 0 ] && grep -q '^Slot a:' <<<"$out" && ok "-q status still shows the status" || not_ok "-q status: $out $err"
run "$OSUPDATE" -q bundle verify "$T/v2.osup" --keys "$T/keys"
[ "$rc" = 0 ] && grep -q 'OK' <<<"$out" && ok "-q bundle verify still reports" || not_ok "-q bundle verify: $out $err"

# --no-pager: accepted everywhere, changes nothing.
run "$OSUPDATE" --config "$CONF" status
plain=$out
run "$OSUPDATE" --no-pager --config "$CONF" status --no-pager
[ "$rc" = 0 ] && [ "$(grep -v '^  [0-9]' <<<"$out")" = "$(grep -v '^  [0-9]' <<<"$plain")" ] &&
        ok "--no-pager: accepted, same output" || not_ok "--no-pager: exit $rc: $err"

finish
