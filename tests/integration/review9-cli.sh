#!/bin/bash
# Review of issue 9's command line: a cluster of short flags ("-qqq…") gives getopt one option per
# letter from a single argv element; every one of them must be stored without running past the
# list of options (it was sized by argv's count: a heap overflow, a crash). Before and after the
# verb, and with an option value in the same cluster ("-qqo FILE").
. "$(dirname "$0")/../lib/lib.sh"

q=$(printf 'q%.0s' $(seq 2000))
expect "-q×2000 before the verb: parsed, then the missing configuration reported" 4 \
        "Failed to open configuration file $T/none" "$OSUPDATE" "-$q" --config "$T/none" status
expect "-q×2000 after the verb: the same" 4 "Failed to open configuration file $T/none" \
        "$OSUPDATE" status "-$q" --config "$T/none"
expect "-q×2000 on both sides of the verb" 4 "Failed to open configuration file $T/none" \
        "$OSUPDATE" "-$q" status "-$q" --config "$T/none"
expect "bundle create -qqq…o OUT: a usage error, not a crash" 2 "needs --key" \
        "$OSUPDATE" bundle create "-${q}o" "$T/out.osup"
[ ! -e "$T/out.osup" ] && ok "no bundle written" || not_ok "$T/out.osup exists"
finish
