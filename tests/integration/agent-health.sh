#!/bin/bash
# The agent's health checks (updater/agent/health.c) through the test driver $HEALTH_RUN, which loads
# a configuration and calls health_run(): passing and failing checks and the verdict's text, the last
# 4 KiB of output only, quoting as ExecStart=, a hanging check killed with its whole process group
# after HealthTimeout=, programs that cannot run, HealthCheckDirectory= order and skips, the
# environment and the fds a check gets, and no child or fd left behind in the agent.
. "$(dirname "$0")/../lib/lib.sh"

: "${HEALTH_RUN:?HEALTH_RUN must point to the health-run test driver}"

mkdir -p "$T/bin"
conf() { # conf NAME LINE…: an [Agent] section with the lines
        local f="$T/$1.conf"
        shift
        printf '[Agent]\n' >"$f"
        printf '%s\n' "$@" >>"$f"
        echo "$f"
}
# run NAME CONF [ARGS…]: the driver's stdout in $out, its exit code in $rc.
run() {
        local name=$1
        shift
        rc=0
        out=$("$HEALTH_RUN" "$@" 2>"$T/$name.err") || rc=$?
        # The agent never leaves a child unreaped nor an fd open behind a run.
        grep -qx 'children: none' <<<"$out" || not_ok "$name: a child was left unreaped: $out"
        grep -qx 'fds: same' <<<"$out" || not_ok "$name: fds leaked in the agent: $out"
}
# output: what follows "output: " (several lines possibly).
output() { sed -n '/^output: /,$p' <<<"$out" | sed '1s/^output: //'; }

# ---- passing -------------------------------------------------------------------------------
run none "$(conf none 'HealthTimeout=5s')"
[ "$rc" = 0 ] && grep -qx 'output: no health checks configured: passed' <<<"$out" &&
        ok "no checks configured: passed" || not_ok "no checks: rc=$rc $out"

run pass "$(conf pass 'HealthCheck=/bin/true' 'HealthCheck=true' "HealthCheck=test -d $T")"
[ "$rc" = 0 ] && grep -qx 'verdict: passed' <<<"$out" && grep -qx 'output: 3 health checks passed' <<<"$out" &&
        ok "three passing checks (a path, a name found in PATH): passed" || not_ok "passing checks: rc=$rc $out"

# ---- failing: the first failure is the verdict, with its output; the rest do not run ------------
run fail "$(conf fail "HealthCheck=sh -c 'echo on stdout; echo on stderr >&2; exit 3'" \
        "HealthCheck=touch $T/ran-after-failure")"
want="HealthCheck=sh -c 'echo on stdout; echo on stderr >&2; exit 3' exited 3: on stdout
on stderr"
[ "$rc" = 1 ] && grep -qx 'verdict: failed' <<<"$out" && [ "$(output)" = "$want" ] &&
        ok "failing check: exit code and stdout+stderr in the verdict" || not_ok "failing check: rc=$rc $out"
[ ! -e "$T/ran-after-failure" ] && ok "checks after the failing one do not run" ||
        not_ok "a check ran after the failing one"

run signal "$(conf signal "HealthCheck=sh -c 'kill -9 \$\$'")"
[ "$rc" = 1 ] && [ "$(output)" = "HealthCheck=sh -c 'kill -9 \$\$' killed by signal 9" ] &&
        ok "a check killed by a signal: \"killed by signal 9\"" || not_ok "signal: rc=$rc $out"

# Only the last 4 KiB of a long output are kept (13.9 KB here: every number 1 … 3000 on a line).
printf '#!/bin/sh\nseq 1 3000\nexit 1\n' >"$T/bin/long"
chmod 755 "$T/bin/long"
run long "$(conf long "HealthCheck=$T/bin/long")"
got=$(output)
got=${got#"HealthCheck=$T/bin/long exited 1: "}
want=$(seq 1 3000 | tail -c 4096)
[ "$rc" = 1 ] && [ "$got" = "$want" ] && [ "${#got}" = 4095 ] &&
        ok "a long output: exactly its last 4096 bytes kept (less the final newline)" ||
        not_ok "long output: rc=$rc, ${#got} bytes kept, starting with: ${got:0:40}"

# ---- quoting as ExecStart=, no shell --------------------------------------------------------
printf '#!/bin/sh\nfor a in "$@"; do printf "<%%s>\\n" "$a"; done >"%s/args.out"\n' "$T" >"$T/bin/args"
chmod 755 "$T/bin/args"
run quoting "$(conf quoting "HealthCheck=$T/bin/args \"one two\" 'three  four' five\\ six a\"b c\"d \\\"q\\\" \$HOME *")"
want='<one two>
<three  four>
<five six>
<ab cd>
<"q">
<$HOME>
<*>'
[ "$rc" = 0 ] && [ "$(cat "$T/args.out" 2>/dev/null)" = "$want" ] &&
        ok "quoted arguments arrive as single words; no shell expands \$HOME or *" ||
        not_ok "quoting: rc=$rc $out; args: $(cat "$T/args.out" 2>/dev/null)"

# A line that cannot be split is a configuration error (file and line named, exit 4 from osupdate),
# not a check that fails every update.
c=$(conf badquote "HealthCheck=$T/bin/args 'unterminated")
rc=0
"$HEALTH_RUN" "$c" >/dev/null 2>"$T/badquote.err" || rc=$?
grep -q "badquote.conf:2: invalid value for HealthCheck=" "$T/badquote.err" && [ "$rc" = 3 ] &&
        ok "an unterminated quote: refused when the configuration is loaded" ||
        not_ok "bad quote: rc=$rc $(cat "$T/badquote.err")"
expect "osupdate refuses it too" 4 'invalid value for HealthCheck=' "$OSUPDATE" --config "$c" status

# ---- timeouts: SIGTERM to the group, SIGKILL 2 s later ----------------------------------------
start=$(date +%s%N)
run hang "$(conf hang 'HealthTimeout=1s' \
        "HealthCheck=sh -c 'sleep 300 & echo \$! >$T/bg.pid; echo hanging; sleep 300'")"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" = 1 ] && grep -q "timed out after 1s: hanging\$" <<<"$out" && [ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ] &&
        ok "a hanging check: \"timed out after 1s\" with its output, after ${ms} ms" ||
        not_ok "hang: rc=$rc after ${ms} ms: $out"
# Its background child was in its group: dead too (gone, or a zombie waiting for init).
gone() {
        local p=$1 i
        for i in $(seq 50); do
                [ -e "/proc/$p" ] || return 0
                [ "$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && return 0
                sleep 0.1
        done
        return 1
}
bg=$(cat "$T/bg.pid" 2>/dev/null || echo none)
[ "$bg" != none ] && gone "$bg" && ok "the hanging check's background child was killed with it" ||
        { not_ok "background child $bg of the hanging check survived"; kill -9 "$bg" 2>/dev/null || true; }

start=$(date +%s%N)
run stubborn "$(conf stubborn 'HealthTimeout=1s' "HealthCheck=sh -c 'trap \"\" TERM; echo \$\$ >$T/stubborn.pid; sleep 300'")"
ms=$((($(date +%s%N) - start) / 1000000))
p=$(cat "$T/stubborn.pid" 2>/dev/null || echo none)
[ "$rc" = 1 ] && grep -q "timed out after 1s" <<<"$out" && [ "$ms" -ge 2900 ] && [ "$ms" -lt 7000 ] &&
        [ "$p" != none ] && gone "$p" &&
        ok "a check ignoring SIGTERM is killed 2 s later (after ${ms} ms)" || not_ok "stubborn: rc=$rc after ${ms} ms: $out"

# A check that writes without pause does not keep the agent from its timeout; only 4 KiB are kept.
start=$(date +%s%N)
run flood "$(conf flood 'HealthTimeout=1s' 'HealthCheck=yes flood')"
ms=$((($(date +%s%N) - start) / 1000000))
got=$(output)
got=${got#"HealthCheck=yes flood timed out after 1s: "}
[ "$rc" = 1 ] && [ "$ms" -lt 5000 ] && [ "${#got}" -le 4096 ] && [ "${#got}" -ge 4000 ] &&
        grep -qx 'flood' <<<"$got" && ! sed '1d;$d' <<<"$got" | grep -qvx 'flood' && # the kept tail may cut a line at either end
        ok "a check flooding its output times out after ${ms} ms, ${#got} bytes kept" ||
        not_ok "flood: rc=$rc after ${ms} ms, ${#got} bytes kept"

# ---- checks that cannot run: failing checks, not agent errors --------------------------------
printf '#!/bin/sh\nexit 0\n' >"$T/bin/not-executable"
chmod 644 "$T/bin/not-executable"
printf 'no interpreter line\n' >"$T/bin/no-shebang"
chmod 755 "$T/bin/no-shebang"
for row in "/nonexistent/check|No such file or directory" "no-such-check-program|No such file or directory" \
        "$T/bin/not-executable|Permission denied" "$T/bin/no-shebang|Exec format error" "$T|Permission denied"; do
        prog=${row%%|*}
        why=${row#*|}
        run missing "$(conf missing "HealthCheck=$prog --flag")"
        [ "$rc" = 1 ] && [ "$(output)" = "HealthCheck=$prog --flag cannot run: $why" ] &&
                ok "$prog: a failing check, \"cannot run: $why\"" || not_ok "$prog: rc=$rc $out"
done

# ---- HealthCheckDirectory=: name order, dot files, non-executables and directories skipped ----
d="$T/health.d"
mkdir -p "$d/15-a-directory"
for n in 20-b 10-a .hidden 05-lines-first; do
        printf '#!/bin/sh\necho %s >>"%s/order"\n' "$n" "$T" >"$d/$n"
        chmod 755 "$d/$n"
done
mv "$d/05-lines-first" "$T/bin/lines-first"
printf '#!/bin/sh\necho 30-not-executable >>"%s/order"\n' "$T" >"$d/30-not-executable"
chmod 644 "$d/30-not-executable"
ln -s "$d/10-a" "$d/12-link-to-a"
ln -s "$d/missing" "$d/13-dangling"
run dir "$(conf dir "HealthCheck=$T/bin/lines-first" "HealthCheckDirectory=$d")"
[ "$rc" = 0 ] && [ "$(tr '\n' ' ' <"$T/order")" = "05-lines-first 10-a 10-a 20-b " ] &&
        grep -qx 'output: 4 health checks passed' <<<"$out" &&
        ok "HealthCheck= lines first, then the directory in name order (a symlink to a check counts), skips the rest" ||
        not_ok "directory order: rc=$rc $out; order: $(tr '\n' ' ' <"$T/order" 2>/dev/null)"

printf '#!/bin/sh\necho broken >&2\nexit 4\n' >"$d/40-fail"
chmod 755 "$d/40-fail"
rm -f "$T/order"
run dirfail "$(conf dirfail "HealthCheckDirectory=$d")"
[ "$rc" = 1 ] && [ "$(output)" = "$d/40-fail exited 4: broken" ] &&
        ok "a failing check in the directory is named by its path" || not_ok "directory failure: rc=$rc $out"

run nodir "$(conf nodir "HealthCheck=touch $T/ran-despite-missing-dir" "HealthCheckDirectory=$T/no-such.d")"
[ "$rc" = 2 ] && grep -q 'ENOENT' <<<"$out" && grep -q "$T/no-such.d" "$T/nodir.err" && [ ! -e "$T/ran-despite-missing-dir" ] &&
        ok "a configured directory that is missing: the agent's error (-ENOENT, logged), nothing run" ||
        not_ok "missing directory: rc=$rc $out $(cat "$T/nodir.err")"

# ---- environment, stdin, fds, process group --------------------------------------------------
c=$(conf env "HealthCheck=sh -c 'echo \"\$OSUPDATE_VERSION \${OSUPDATE_PREVIOUS_VERSION-unset} \${NOTIFY_SOCKET-unset} \$KEEP\" >$T/env.out'")
KEEP=kept NOTIFY_SOCKET=/run/systemd/notify OSUPDATE_VERSION=stale run env "$c" 2.1 2.0
[ "$rc" = 0 ] && [ "$(cat "$T/env.out")" = "2.1 2.0 unset kept" ] &&
        ok "OSUPDATE_VERSION and OSUPDATE_PREVIOUS_VERSION set, the agent's environment kept, NOTIFY_SOCKET not passed" ||
        not_ok "environment: rc=$rc $out; env: $(cat "$T/env.out" 2>/dev/null)"
run env-noprev "$c" 3 -
[ "$rc" = 0 ] && [ "$(cat "$T/env.out")" = "3 unset unset " ] &&
        ok "no previous version: OSUPDATE_PREVIOUS_VERSION unset" || not_ok "no previous: $(cat "$T/env.out" 2>/dev/null)"

# An fd the caller leaked (no O_CLOEXEC) does not reach the check either.
exec 7>"$T/leaked-fd"
# The check execs ls, which lists its own fds: the one it opened to read the list is not counted.
printf '#!/bin/sh\nexec ls -l /proc/self/fd >"%s/fds.out"\n' "$T" >"$T/bin/fds"
chmod 755 "$T/bin/fds"
run fds "$(conf fds "HealthCheck=$T/bin/fds" "HealthCheck=sh -c 'readlink /proc/\$\$/fd/0 >$T/stdin.out; cut -d\" \" -f5 /proc/\$\$/stat >$T/pgid.out; echo \$\$ >$T/pid.out'")"
exec 7>&-
got=$(awk '/ -> / && $NF !~ /^\/proc\/[0-9]+\/fd$/ { printf "%s ", $(NF - 2) }' "$T/fds.out" 2>/dev/null)
[ "$rc" = 0 ] && [ "$got" = "0 1 2 " ] && [ "$(cat "$T/stdin.out")" = /dev/null ] &&
        ok "the check has only stdin (/dev/null), stdout and stderr: no fd leaked" ||
        not_ok "fds: rc=$rc $out; fds: $got; stdin: $(cat "$T/stdin.out" 2>/dev/null); $(cat "$T/fds.out" 2>/dev/null)"
pg=$(cat "$T/pgid.out" 2>/dev/null)
pid=$(cat "$T/pid.out" 2>/dev/null)
[ -n "$pid" ] && [ "$pg" = "$pid" ] && ok "the check leads its own process group" ||
        not_ok "process group $pg, pid $pid"

finish
