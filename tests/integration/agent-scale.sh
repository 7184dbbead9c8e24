#!/bin/bash
# A staged rollout over 200 machines: each with its own machine id, /usr (a read-only tmpfs),
# StateDirectory= and RuntimeDirectory=, runs `osupdate agent --once` against one channel on nginx.
# The operator raises the rollout 10 % → 50 % → 100 % (each a new signed serial); after each round
# the share of machines that run the new version must be within ±5 points of it, a machine that
# updated stays updated (its bucket is stable), and every machine fetched the channel once per round.
# Machine ids look like /etc/machine-id (32 hex digits), fixed per run: the first 32 of
# sha256("osupdate-scale-test-N"). For a fixed set of ids the share is a fixed number (with 200 random ids
# its standard deviation is 3.5 points at 50 %); the evenness of the buckets themselves is checked on
# 10 000 ids in tests/unit/test-agent.c.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/nginx.sh"

M=${AGENT_SCALE_MACHINES:-200}
make_keys
start_nginx || { not_ok "nginx"; finish; }
H="http://127.0.0.1:$NGINX_HTTP"
make_tree "$T/tree1" 1
rm -f "$T/tree1/share/doc/blob" # a small /usr: 200 copies
make_bundle 2
cp "$T/v2.osup" "$T/www/v2.osup"

mkdir -p "$T/fleet"
# The machines' /usr are mounted under $T: unmounted before $T is removed.
on_exit 'for u in "$T"/fleet/*/usr; do umount -l "$u" 2>/dev/null; done'
for i in $(seq -w 1 "$M"); do
        m=$T/fleet/$i
        mkdir -p "$m/usr"
        mount -t tmpfs -o size=1m "usr$i" "$m/usr"
        cp -a "$T/tree1/." "$m/usr/"
        mount -o remount,ro "$m/usr"
        cat >"$m/osupdate.conf" <<CONF
[Update]
Target=$m/usr
StateDirectory=$m/state
RuntimeDirectory=$m/run
KeysDirectory=$T/keys
PolicyDirectory=$m/policy.d
Verity=userspace
[Network]
Retries=0
[Agent]
Channel=$H/stable.json
MachineID=$(printf 'osupdate-scale-test-%d' "$((10#$i))" | sha256sum | cut -c1-32)
HealthCheck=/bin/true
CONF
done
ok "$M machines set up"

round() { # round SERIAL PERCENT: publish, every machine polls once (4 at a time)
        "$OSUPDATE" channel create --key "$T/k1.pem" --name stable --serial "$1" --version 2 --bundle "$H/v2.osup" \
                --bundle-file "$T/v2.osup" --percent "$2" -o "$T/www/stable.json" >/dev/null
        : >"$N/access.log"
        # shellcheck disable=SC2016
        seq -w 1 "$M" | xargs -P 4 -I{} sh -c '"$0" agent --once -q --config "$1/{}/osup.conf" >"$1/{}/out" 2>&1 || echo "{} $?" >>"$1/errors"' \
                "$OSUPDATE" "$T/fleet" 2>/dev/null || true
}
# The config name in round(): osup.conf links to osupdate.conf (short command lines).
for i in $(seq -w 1 "$M"); do ln -s osupdate.conf "$T/fleet/$i/osup.conf"; done
updated() { local n=0 i; for i in $(seq -w 1 "$M"); do [ "$(cat "$T/fleet/$i/usr/version")" = 2 ] && n=$((n + 1)); done; echo $n; }
list_updated() { local i; for i in $(seq -w 1 "$M"); do [ "$(cat "$T/fleet/$i/usr/version")" = 2 ] && echo "$i"; done; true; }

prev=""
serial=0
for pct in 10 50 100; do
        serial=$((serial + 1))
        round "$serial" "$pct"
        n=$(updated)
        share=$((n * 100 / M))
        lo=$((pct - 5))
        hi=$((pct + 5))
        [ "$share" -ge "$lo" ] && [ "$share" -le "$hi" ] && ok "rollout $pct %: $n of $M machines updated ($share %)" ||
                not_ok "rollout $pct %: $n of $M updated ($share %), expected $lo..$hi %"
        if [ -s "$T/fleet/errors" ]; then
                not_ok "rollout $pct %: agents failed: $(head -3 "$T/fleet/errors")"
                rm -f "$T/fleet/errors"
        fi
        now=$(list_updated)
        if [ -n "$prev" ] && [ -n "$(comm -23 <(echo "$prev") <(echo "$now"))" ]; then
                not_ok "rollout $pct %: a machine that updated before runs 1 again"
        elif [ -n "$prev" ]; then
                ok "rollout $pct %: every machine updated earlier is still updated"
        fi
        prev=$now
        gets=$(grep -c '^/stable.json 200' "$N/access.log" || true)
        [ "$gets" = "$M" ] && ok "rollout $pct %: the channel was fetched $M times (once per machine)" ||
                not_ok "rollout $pct %: channel fetched $gets times"
done
healthy=$(for i in $(seq -w 1 "$M"); do jq -r '.history[-1].result' "$T/fleet/$i/state/agent.json"; done | grep -c '^success$' || true)
[ "$healthy" = "$M" ] && ok "every machine recorded success once healthy" || not_ok "$healthy of $M recorded success"
finish
