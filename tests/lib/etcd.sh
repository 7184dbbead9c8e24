# shellcheck shell=bash
# A three-member etcd cluster (Debian's etcd-server, 3.4) on 127.0.0.1 for a test: random free
# client and peer ports, data under $T/etcd, fast elections, killed when the test exits. Source it
# after lib.sh.
#   start_etcd_cluster   starts it and waits until every member is healthy; exports
#                        ETCD_ENDPOINTS ("http://127.0.0.1:P1 http://127.0.0.1:P2 http://127.0.0.1:P3")
#                        and the array ETCD_PIDS (member N is ${ETCD_PIDS[N-1]});
#                        each member also serves HTTPS that requires a client certificate:
#                        ETCD_TLS_ENDPOINTS ("https://127.0.0.1:Q1 …"), certificates in $T/etcd-tls:
#                        ca.pem (signed the server's and client.pem/client.key), other-ca.pem
#   stop_etcd_member N   kills member N (1 … 3) with SIGKILL: a crash, not a goodbye
#   etcd_get KEY         prints KEY's value (nothing if it does not exist)
#   etcd_put KEY VALUE   writes it
#   etcdctl_all ARGS…    etcdctl (API v3) against every member still listed
#   _free_ports N        N free TCP ports on 127.0.0.1; $PYTHON3: the python3 to run test servers with
# Logs: $T/etcd/mN.log.

[ -x /usr/bin/etcd ] || { echo "SKIP: /usr/bin/etcd missing (Debian package etcd-server)"; exit 77; }
command -v etcdctl >/dev/null || { echo "SKIP: etcdctl missing (Debian package etcd-client)"; exit 77; }
export ETCDCTL_API=3
# Debian's python3 (the test server tests/lib/fleetlock.py uses the standard library only); a
# python3 earlier in PATH may be a slow wrapper (pyenv's shims take a second and more per start).
if [ -x /usr/bin/python3 ]; then PYTHON3=/usr/bin/python3; else PYTHON3=python3; fi
command -v "$PYTHON3" >/dev/null || { echo "SKIP: python3 missing (Debian package python3)"; exit 77; }

# N free TCP ports on 127.0.0.1, as the kernel hands them out (bound, then released at once; the
# caller retries if one is taken meanwhile).
_free_ports() {
        "$PYTHON3" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

_etcd_kill_all() {
        local p
        for p in "${ETCD_PIDS[@]+"${ETCD_PIDS[@]}"}"; do
                kill -9 "$p" 2>/dev/null || true
        done
        for p in "${ETCD_PIDS[@]+"${ETCD_PIDS[@]}"}"; do
                wait "$p" 2>/dev/null || true
        done
}

etcdctl_all() {
        etcdctl --endpoints="${ETCD_ENDPOINTS// /,}" --command-timeout=5s "$@"
}

# A test CA, the members' server certificate (127.0.0.1) and a client certificate, made once.
_etcd_tls() {
        local d="$T/etcd-tls" ca
        [ -e "$d/client.pem" ] && return 0
        mkdir -p "$d"
        for ca in ca other-ca; do
                openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/$ca.key" \
                        -subj "/CN=osupdate etcd test $ca" -days 2 -out "$d/$ca.pem" 2>/dev/null
        done
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$d/server.ext"
        printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
        for c in server client; do
                openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/$c.key" \
                        -subj "/CN=osupdate-etcd-$c" -out "$d/$c.csr" 2>/dev/null
                openssl x509 -req -in "$d/$c.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
                        -extfile "$d/$c.ext" -out "$d/$c.pem" 2>/dev/null
        done
}

start_etcd_cluster() {
        local try i ports cluster token healthy
        _etcd_tls
        ETCD_PIDS=()
        on_exit '_etcd_kill_all'
        for try in 1 2 3; do
                read -r -a ports <<<"$(_free_ports 9)"
                token="osupdate-test-$$-$try"
                cluster=""
                for i in 1 2 3; do
                        cluster+="${cluster:+,}m$i=http://127.0.0.1:${ports[$((i + 2))]}"
                done
                rm -rf "$T/etcd"
                mkdir -p "$T/etcd"
                ETCD_PIDS=()
                ETCD_ENDPOINTS=""
                ETCD_TLS_ENDPOINTS=""
                for i in 1 2 3; do
                        local c=${ports[$((i - 1))]} p=${ports[$((i + 2))]} s=${ports[$((i + 5))]}
                        ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+ }http://127.0.0.1:$c"
                        ETCD_TLS_ENDPOINTS+="${ETCD_TLS_ENDPOINTS:+ }https://127.0.0.1:$s"
                        # Heartbeat 50 ms, election 500 ms: a lost leader is replaced within a second.
                        # The client certificate is asked for on the HTTPS listener only.
                        etcd --name "m$i" --data-dir "$T/etcd/m$i" \
                                --listen-client-urls "http://127.0.0.1:$c,https://127.0.0.1:$s" \
                                --advertise-client-urls "http://127.0.0.1:$c" \
                                --cert-file "$T/etcd-tls/server.pem" --key-file "$T/etcd-tls/server.key" \
                                --trusted-ca-file "$T/etcd-tls/ca.pem" --client-cert-auth \
                                --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
                                --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "$token" \
                                --heartbeat-interval 50 --election-timeout 500 \
                                >"$T/etcd/m$i.log" 2>&1 &
                        ETCD_PIDS+=("$!")
                done
                export ETCD_ENDPOINTS ETCD_TLS_ENDPOINTS
                healthy=0
                for i in $(seq 1 100); do
                        if etcdctl_all endpoint health >/dev/null 2>&1; then
                                healthy=1
                                break
                        fi
                        # A member that died (a port taken meanwhile) will not come back: start over.
                        local p dead=0
                        for p in "${ETCD_PIDS[@]}"; do
                                kill -0 "$p" 2>/dev/null || dead=1
                        done
                        [ "$dead" = 1 ] && break
                        sleep 0.2
                done
                if [ "$healthy" = 1 ]; then
                        return 0
                fi
                _etcd_kill_all
        done
        echo "etcd cluster did not become healthy; logs:" >&2
        tail -n 20 "$T"/etcd/m*.log >&2 || true
        return 1
}

stop_etcd_member() {
        local n=$1 pid=${ETCD_PIDS[$(($1 - 1))]}
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        : "$n"
}

etcd_get() {
        etcdctl_all get --print-value-only "$1"
}

etcd_put() {
        etcdctl_all put "$1" "$2" >/dev/null
}
