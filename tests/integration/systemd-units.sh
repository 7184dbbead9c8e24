#!/bin/bash
# The shipped systemd units pass `systemd-analyze verify` (with ExecStart= pointed at the built
# binary, since it is not installed in /usr/bin here). systemd is not PID 1 on the build machines:
# the units' job is done there by the detached deadline timer, which policy-defer.sh tests.
. "$(dirname "$0")/../lib/lib.sh"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }

units="$(dirname "$0")/../../updater/systemd"
mkdir "$T/units"
for u in "$units"/*; do
        sed "s|/usr/bin/osupdate|$OSUPDATE|" "$u" >"$T/units/$(basename "$u")"
done
for u in "$T"/units/*; do
        if out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$u" 2>&1) && [ -z "$out" ]; then
                ok "systemd-analyze verify $(basename "$u")"
        else
                not_ok "$(basename "$u"): $out"
        fi
done
grep -q "ExecStart=/usr/bin/osupdate release --expired" "$units/osupdate-expire.service" && ok "the expire service runs release --expired" ||
        not_ok "osupdate-expire.service"
finish
