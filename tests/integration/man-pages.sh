#!/bin/bash
# The man pages in docs/man: each renders without a single warning (mandoc -T lint, and groff through
# man-db), has a NAME line whatis can read, and says what the code does. Nothing is listed twice:
# the options come from the binary's own --help (and each VERB --help), the exit codes from the
# table in updater/main.c and docs/exit-codes.md, the configuration and policy keys from the
# parser tables in updater/config.c and updater/policy-load.c, the environment from the sources'
# getenv() calls. A key, option or code that is missing from its page fails here.
. "$(dirname "$0")/../lib/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
MAN=$SRC/docs/man
PAGES=(osupdate.8 osupdate.conf.5 osupdate.policy.5 osupdate-bundle.5 osupdate-initrd.8)
export LC_ALL=C.UTF-8 MANWIDTH=80

if ! command -v mandoc >/dev/null; then
        echo "SKIP: mandoc is not installed (scripts/install-deps installs it)"
        exit 77
fi

# render PAGE: the page as plain text (no overstrike), as a reader sees it.
render() { mandoc -T ascii -O width=80 "$MAN/$1" | col -b; }
# options: every --long and -x option token in stdin, one per line, sorted.
options() { grep -oE '(^|[^A-Za-z0-9_-])--?[A-Za-z][A-Za-z0-9-]*' | sed -E 's/^[^-]+//' | sort -u; }
# section PAGE TITLE: the roff source of section TITLE (a .SH line) up to the next .SH.
section() {
        awk -v t="$2" '/^\.SH /{ s = $0; sub(/^\.SH +/, "", s); gsub(/"/, "", s); inside = (s == t); next }
                       inside' "$MAN/$1"
}
# tags PAGE TITLE: the first word of each .TP tag in that section, roff escapes of hyphens undone.
tags() {
        section "$1" "$2" | awk 'prev == ".TP" || prev == ".TQ" { print $2 } { prev = $1 }' | sed -e 's/\\-/-/g' |
                tr -d '"'
}

# check_keys PAGE SOURCE ITEMS: ITEMS ("Section Key" lines from SOURCE's parser table) are exactly
# the keys the page documents, each in a section titled "[Section] SECTION" as a .TP tag "Key=".
check_keys() {
        local page=$1 src=$2 items documented s k
        items=$(sort -u <<<"$3")
        documented=$(for s in $(awk '{print $1}' <<<"$items" | sort -u); do
                tags "$page" "[$s] SECTION" | sed -nE "s/^([A-Za-z]+)=.*/$s \\1/p"
        done | sort -u)
        while read -r s k; do
                not_ok "$page [$s] SECTION lacks $k= (a key of $src)"
        done < <(comm -23 <(echo "$items") <(echo "$documented") | grep .)
        while read -r s k; do
                not_ok "$page documents $k= in [$s], which $src refuses"
        done < <(comm -13 <(echo "$items") <(echo "$documented") | grep .)
        [ "$items" = "$documented" ] && ok "$page documents exactly the $(wc -l <<<"$items") keys of $src, each in its section"
}

for p in "${PAGES[@]}"; do
        if [ ! -f "$MAN/$p" ]; then
                not_ok "$p: missing from docs/man"
                continue
        fi
        out=$(mandoc -T lint -W warning "$MAN/$p" 2>&1) && [ -z "$out" ] && ok "$p: mandoc -T lint -W warning is silent" ||
                not_ok "$p: mandoc -T lint: $out"
        if command -v man >/dev/null; then
                out=$(man --warnings -E UTF-8 -l "$MAN/$p" 2>&1 >/dev/null) && [ -z "$out" ] &&
                        ok "$p: man --warnings (groff) is silent" || not_ok "$p: man --warnings: $out"
        fi

        # .TH NAME SECTION DATE SOURCE: the title and section the file name says.
        name=${p%.*} sec=${p##*.}
        th=$(grep -m1 '^\.TH ' "$MAN/$p" | sed 's/\\-/-/g')
        read -r _ title thsec _ <<<"$th"
        [ "$title" = "${name^^}" ] && [ "$thsec" = "$sec" ] && ok "$p: .TH $title $thsec" ||
                not_ok "$p: .TH says '$title $thsec', the file name '${name^^} $sec'"

        # NAME: "name \- what it is", one line, as whatis/apropos read it.
        nameline=$(section "$p" NAME | grep -v '^\.' | head -n1 | sed 's/\\-/-/g')
        [[ "$nameline" =~ ^"$name"\ -\ [^[:space:]].+ ]] && ok "$p: NAME line '$nameline'" ||
                not_ok "$p: NAME section is '$nameline', not '$name - description'"
        if command -v lexgrog >/dev/null; then
                out=$(lexgrog "$MAN/$p" 2>&1) && grep -qF "\"$name - " <<<"$out" && ok "$p: whatis entry: $out" ||
                        not_ok "$p: lexgrog cannot read a whatis entry: $out"
        fi
done

# --- osupdate(8): every option of --help and of each VERB --help --------------------------------
page8=$(render osupdate.8)
page8_opts=$(options <<<"$page8")
help=$("$OSUPDATE" --help)
sources=("--help")
help_opts=$(options <<<"$help")
# The verbs, as --help lists them ("osupdate VERB" and "osupdate bundle VERB").
verbs=$(grep -oE '^ *osupdate +[a-z][a-z-]*( +(create|info|verify))?' <<<"$help" | sed -E 's/^ *osupdate +//; s/ +/ /g' |
        sort -u)
[ -n "$verbs" ] && ok "--help lists the verbs: $(tr '\n' ' ' <<<"$verbs")" || not_ok "no verbs found in --help: $help"
while read -r verb; do
        [ -n "$verb" ] || continue
        # shellcheck disable=SC2086 # "bundle create" is two words
        if vhelp=$("$OSUPDATE" $verb --help 2>/dev/null); then
                sources+=("$verb --help")
                help_opts+=$'\n'$(options <<<"$vhelp")
        fi
        # Every verb is a command the page explains.
        grep -qE "^ {7}$verb( |$)" <<<"$page8" && ok "osupdate.8 explains '$verb'" ||
                not_ok "osupdate.8 has no entry for the command '$verb'"
done <<<"$verbs"
help_opts=$(sort -u <<<"$help_opts")
n=$(wc -l <<<"$help_opts")
for o in $(comm -23 <(echo "$help_opts") <(echo "$page8_opts")); do
        not_ok "osupdate.8 does not mention $o (from osupdate ${sources[*]})"
done
[ "$n" -gt 5 ] && ok "osupdate.8 mentions all $n options of: osupdate ${sources[*]}" ||
        not_ok "only $n options found in osupdate ${sources[*]}"

# --- osupdate(8): exit codes --------------------------------------------------------------------
codes_main=$(grep -oE '^\s*\{ *E[A-Z]+, *[0-9]+ *\}' "$SRC/updater/main.c" | grep -oE '[0-9]+ *\}' | tr -d ' }')
codes_doc=$(grep -oE '^\| *[0-9]+ *\|' "$SRC/docs/exit-codes.md" | tr -d '| ')
[ "$(wc -w <<<"$codes_main")" -gt 20 ] && ok "updater/main.c maps $(wc -w <<<"$codes_main") errnos" ||
        not_ok "cannot parse the exit code table in updater/main.c"
codes=$(printf '%s\n' $codes_main $codes_doc | sort -u)
codes_man=$(tags osupdate.8 "EXIT STATUS" | sort -u)
for c in $(comm -23 <(echo "$codes") <(echo "$codes_man")); do
        not_ok "osupdate.8 EXIT STATUS lacks exit code $c"
done
for c in $(comm -13 <(echo "$codes") <(echo "$codes_man")); do
        not_ok "osupdate.8 EXIT STATUS lists $c, which neither updater/main.c nor docs/exit-codes.md knows"
done
[ "$codes_man" = "$codes" ] && ok "osupdate.8 EXIT STATUS lists exactly the codes: $(sort -n <<<"$codes" | tr "\n" " ")" ||
        not_ok "exit codes differ: page $(tr '\n' ' ' <<<"$codes_man"), code $(tr '\n' ' ' <<<"$codes")"

# --- osupdate(8): environment variables the code reads ------------------------------------------
# OSUPDATE_FAILPOINT and OSUPDATE_TIMING are for the tests and benchmarks only.
envs=$(grep -rhoE 'getenv\("[A-Za-z_0-9]+"\)' "$SRC"/common "$SRC"/verify "$SRC"/policy "$SRC"/updater |
        sed -E 's/getenv\("(.*)"\)/\1/' | grep -vxE 'OSUPDATE_FAILPOINT|OSUPDATE_TIMING' | sort -u)
env_man=$(tags osupdate.8 ENVIRONMENT | sed 's/,$//')
for e in $envs; do
        grep -qxF "$e" <<<"$env_man" && ok "osupdate.8 ENVIRONMENT documents $e" || not_ok "osupdate.8 ENVIRONMENT lacks $e"
done

# --- osupdate.conf(5): every key of the parser, in its section ----------------------------------
# config_load()'s table: { "Section", "Key", parser, &field }.
conf_items=$(grep -oE '\{ *"[A-Za-z]+", *"[A-Za-z]+", *[a-z_]+,' "$SRC/updater/config.c" | sed -E 's/\{ *"([^"]+)", *"([^"]+)".*/\1 \2/')
[ "$(wc -l <<<"$conf_items")" -ge 20 ] && ok "updater/config.c knows $(wc -l <<<"$conf_items") keys" ||
        not_ok "cannot parse the key table in updater/config.c: $conf_items"
check_keys osupdate.conf.5 updater/config.c "$conf_items"
# Verity= takes what verity_mode_table names.
for v in $(sed -n '/^static const char \*const verity_mode_table/,/};/p' "$SRC/updater/config.c" | grep -oE '"[a-z]+"' | tr -d '"'); do
        grep -qE "^\.BR Verity= .*\b$v\b" "$MAN/osupdate.conf.5" || not_ok "osupdate.conf.5: Verity= lacks the value $v"
done

# --- osupdate.policy(5): every key of a rule, and the values of Notify= ------------------------
pol_items=$(grep -oE '\{ *"(Match|Policy)", *"[A-Za-z]+", *[a-z_]+,' "$SRC/updater/policy-load.c" |
        sed -E 's/\{ *"([^"]+)", *"([^"]+)".*/\1 \2/')
[ "$(wc -l <<<"$pol_items")" -ge 5 ] && ok "updater/policy-load.c knows $(wc -l <<<"$pol_items") rule keys" ||
        not_ok "cannot parse the key table in updater/policy-load.c"
check_keys osupdate.policy.5 updater/policy-load.c "$pol_items"
for v in $(sed -n '/^static int parse_notify/,/^}/p' "$SRC/updater/policy-load.c" | grep -oE '"[A-Za-z0-9]+"' | tr -d '"'); do
        grep -qE "^\.BR Notify= .*\b$v\b" "$MAN/osupdate.policy.5" || not_ok "osupdate.policy.5: Notify= lacks $v"
done

# --- osupdate-bundle(5): every field the manifest parser accepts --------------------------------
fields=$(tr '\n' ' ' <"$SRC/verify/manifest.c" | grep -oE 'keys\[\] = \{[^}]*\}' | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
[ "$(wc -w <<<"$fields")" -ge 15 ] && ok "verify/manifest.c accepts $(wc -w <<<"$fields") fields" ||
        not_ok "cannot parse the field lists of verify/manifest.c"
bundle=$(render osupdate-bundle.5)
described=$(grep -oE '^ {7}[a-z_]+(, [a-z_]+)*( \(|$)' <<<"$bundle" | grep -oE '[a-z_]+' | sort -u)
for f in $(comm -23 <(echo "$fields") <(echo "$described")); do
        not_ok "osupdate-bundle.5 does not describe the manifest field $f"
done

# --- installed by cmake --install -----------------------------------------------------------------
build=$(dirname "$OSUPDATE")
while [ "$build" != / ] && [ ! -e "$build/CMakeCache.txt" ]; do build=$(dirname "$build"); done
if [ -e "$build/CMakeCache.txt" ]; then
        out=$(DESTDIR="$T/root" cmake --install "$build" --prefix /usr 2>&1) || not_ok "cmake --install: $out"
        for p in "${PAGES[@]}"; do
                i="$T/root/usr/share/man/man${p##*.}/$p"
                cmp -s "$i" "$MAN/$p" && ok "cmake --install puts $p in ${i#"$T"/root}" || not_ok "cmake --install did not install $p as $i"
        done
else
        echo "# no CMakeCache.txt above $OSUPDATE: cmake --install not checked"
fi

finish
