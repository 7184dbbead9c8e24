#!/bin/bash
# bash completion (shell-completion/bash/osupdate): verbs, each verb's options, option values, file
# arguments, global options before the verb; and its static lists against 'osupdate --help' and
# 'osupdate VERB --help', so that the two cannot drift apart.
. "$(dirname "$0")/../lib/lib.sh"

BASH_COMPLETION=/usr/share/bash-completion/bash_completion
SCRIPT=$(cd "$(dirname "$0")/../../shell-completion/bash" && pwd)/osupdate
if [ ! -r "$BASH_COMPLETION" ]; then
        not_ok "$BASH_COMPLETION missing: the bash-completion package must be installed (scripts/install-deps)"
        finish
fi
PATH=$(dirname "$OSUPDATE"):$PATH

# The completion runs in this shell as it would interactively: bash-completion does not expect -eu.
set +eu +o pipefail
# shellcheck source=/dev/null
. "$BASH_COMPLETION"
# shellcheck source=../../shell-completion/bash/osupdate
. "$SCRIPT"
set -eu -o pipefail

complete -p osupdate 2>/dev/null | grep -q -- '-F _osupdate' && ok "the script registers _osupdate for osupdate" ||
        not_ok "complete -p osupdate: $(complete -p osupdate 2>&1)"

# comp LINE: the candidates bash would offer with the cursor at the end of LINE, sorted, one a line.
comp() {
        local line=$1
        (
                set +eu +o pipefail
                COMP_LINE=$line
                COMP_POINT=${#line}
                local w
                COMP_WORDS=()
                # Words as bash splits them: at blanks, and '=' (in COMP_WORDBREAKS) a word of its own.
                for w in $line; do
                        while [[ $w == *=* ]]; do
                                [ -n "${w%%=*}" ] && COMP_WORDS+=("${w%%=*}")
                                COMP_WORDS+=("=")
                                w=${w#*=}
                        done
                        [ -n "$w" ] && COMP_WORDS+=("$w")
                done
                [[ $line == *" " ]] && COMP_WORDS+=("")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMPREPLY=()
                _osupdate osupdate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                printf '%s\n' "${COMPREPLY[@]}"
        ) | grep . | sort -u
}

# offers NAME LINE WORD…: the candidates for LINE include every WORD.
offers() {
        local name=$1 line=$2 got w missing=""
        shift 2
        got=$(comp "$line")
        for w in "$@"; do grep -qxF -- "$w" <<<"$got" || missing+=" $w"; done
        [ -z "$missing" ] && ok "$name" || not_ok "$name: '$line' lacks$missing; offers: ${got//$'\n'/ }"
}
# lacks NAME LINE WORD…: … and none of these.
lacks() {
        local name=$1 line=$2 got w extra=""
        shift 2
        got=$(comp "$line")
        for w in "$@"; do grep -qxF -- "$w" <<<"$got" && extra+=" $w"; done
        [ -z "$extra" ] && ok "$name" || not_ok "$name: '$line' offers$extra"
}

# The help: verbs as the overview lists them, options as each help lists them.
overview=$("$OSUPDATE" --help)
mapfile -t verbs < <(sed -nE 's/^  osupdate ((bundle|channel|lock) [a-z-]+|[a-z-]+)( .*)?$/\1/p' <<<"$overview" | awk '!seen[$0]++')
options_in() { grep -oE '^  (-[a-zA-Z], )?--[a-z-]+' | tr -d ',' | tr ' ' '\n' | grep . | sort -u; }

want=$(printf '%s\n' "${verbs[@]}" | cut -d' ' -f1 | sort -u)
got=$(comp "osupdate ")
[ "$got" = "$want" ] && ok "verbs: as 'osupdate --help' lists them (${got//$'\n'/ })" ||
        not_ok "verbs: completion offers '${got//$'\n'/ }', --help lists '${want//$'\n'/ }'"
for g in bundle channel lock; do
        want=$(printf '%s\n' "${verbs[@]}" | sed -n "s/^$g //p" | sort -u)
        got=$(comp "osupdate $g ")
        [ -n "$want" ] && [ "$got" = "$want" ] && ok "$g verbs: as --help lists them (${got//$'\n'/ })" ||
                not_ok "$g verbs: completion '${got//$'\n'/ }', --help '${want//$'\n'/ }'"
done
want=$(sed -n '/^Global options/,/^$/p' <<<"$overview" | options_in)
got=$(comp "osupdate -")
[ -n "$want" ] && [ "$got" = "$want" ] && ok "global options before the verb: as --help lists them" ||
        not_ok "global options: completion '${got//$'\n'/ }', --help '${want//$'\n'/ }'"
for v in "${verbs[@]}"; do
        # shellcheck disable=SC2086 # "bundle create" is two words
        want=$("$OSUPDATE" $v --help | options_in)
        got=$(comp "osupdate $v -")
        [ -n "$want" ] && [ "$got" = "$want" ] && ok "$v: options as '$v --help' lists them" ||
                not_ok "$v: completion offers '${got//$'\n'/ }', '$v --help' lists '${want//$'\n'/ }'"
done

offers "apply --d completes --dry-run" "osupdate apply --d" --dry-run
offers "a verb after a global option with its value" "osupdate --config /etc/osupdate/osupdate.conf st" status
offers "a verb after global flags" "osupdate --json -q " status apply bundle
offers "verb options after global options" "osupdate --keys /tmp apply --" --dry-run --staged --config
offers "--fstype values" "osupdate bundle create --fstype " erofs squashfs
offers "help VERB" "osupdate help ma" mark-good
offers "help bundle VERB" "osupdate help bundle " create info verify
offers "help lock VERB" "osupdate help lock " status acquire release
offers "channel create --r completes the rollout options" "osupdate channel create --r" --rollout-start --rollout-duration
for o in --percent --version --name --bundle --serial; do
        got=$(comp "osupdate channel create $o " || true)
        [ -z "$got" ] && ok "channel create $o takes a value: nothing offered" || not_ok "channel create $o: offers ${got//$'\n'/ }"
done
lacks "no verbs after a complete verb" "osupdate status " apply bundle

# Files: bundles for apply, fetch, bundle info and verify; directories for --keys and --tree; any
# file for --key, --config and -o.
mkdir -p "$T/files/sub.d"
touch "$T/files/x.osup" "$T/files/y.txt"
cd "$T/files"
for v in apply fetch "bundle info" "bundle verify"; do
        offers "$v: bundle files and directories" "osupdate $v " x.osup sub.d
        lacks "$v: no other files" "osupdate $v " y.txt
done
offers "apply with options first: the bundle" "osupdate --config c apply --dry-run " x.osup
offers "--keys: directories" "osupdate --keys " sub.d
lacks "--keys: no files" "osupdate --keys " x.osup y.txt
offers "--tree: directories" "osupdate bundle create --tree " sub.d
lacks "--tree: no files" "osupdate bundle create --tree " x.osup
offers "--key: files" "osupdate bundle create --key " y.txt x.osup
offers "-o: files" "osupdate bundle create -o " y.txt
offers "--bundle-file: files" "osupdate channel create --bundle-file " x.osup
offers "channel verify: a document file" "osupdate channel verify " y.txt
offers "--config: files" "osupdate --config " y.txt
offers "--config=: files" "osupdate status --config=" y.txt
offers "a prefix of a file" "osupdate bundle info x" x.osup
cd /

finish
