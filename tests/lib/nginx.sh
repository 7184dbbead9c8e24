# shellcheck shell=bash
# Starts Debian's nginx on 127.0.0.1 for a test, with its own configuration, logs and certificates
# under $T/nginx, serving $T/www: plain HTTP, HTTPS (certificate from a test CA made here), and
# HTTPS that requires a client certificate. Stopped when the test exits.
#   NGINX_HTTP, NGINX_HTTPS, NGINX_MTLS   ports
#   $T/nginx/ca.pem, other-ca.pem         the test CA and an unrelated CA
#   $T/nginx/client.pem, client.key       a client certificate from the test CA
#   $T/nginx/access.log                   "$request_uri $status $body_bytes_sent range=… ua=… id=<X-Machine-Id>"
# Locations: /slow/ (2 KiB/s), /throttle/ (2 MiB/s), /fail (500), /to-http/NAME (302 to http://…/NAME).

command -v nginx >/dev/null || { echo "SKIP: nginx is not installed"; exit 77; }
N="$T/nginx"
mkdir -p "$N" "$T/www"

_cert() { # _cert NAME CN CA [extra openssl x509 options…]
        local name=$1 cn=$2 ca=$3
        shift 3
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$N/$name.key" \
                -subj "/CN=$cn" -out "$N/$name.csr" 2>/dev/null
        openssl x509 -req -in "$N/$name.csr" -CA "$N/$ca.pem" -CAkey "$N/$ca.key" -CAcreateserial -days 2 \
                -out "$N/$name.pem" "$@" 2>/dev/null
}
for ca in ca other-ca; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$N/$ca.key" \
                -subj "/CN=osupdate test $ca" -days 2 -out "$N/$ca.pem" 2>/dev/null
done
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$N/san.ext"
_cert server 127.0.0.1 ca -extfile "$N/san.ext"
_cert client osupdate-device ca

start_nginx() {
        local try
        for try in 1 2 3 4 5; do
                NGINX_HTTP=$((20000 + RANDOM % 20000))
                NGINX_HTTPS=$((NGINX_HTTP + 1))
                NGINX_MTLS=$((NGINX_HTTP + 2))
                cat >"$N/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon on;
pid $N/nginx.pid;
error_log $N/error.log;
events { worker_connections 64; }
http {
        log_format osup '\$request_uri \$status \$body_bytes_sent range=\$http_range ua=\$http_user_agent id=\$http_x_machine_id';
        access_log $N/access.log osup;
        client_body_temp_path $N/tmp-body;
        proxy_temp_path $N/tmp-proxy;
        fastcgi_temp_path $N/tmp-fastcgi;
        uwsgi_temp_path $N/tmp-uwsgi;
        scgi_temp_path $N/tmp-scgi;
        types { application/octet-stream osup; }
        default_type application/octet-stream;
        sendfile off;
        server {
                listen 127.0.0.1:$NGINX_HTTP;
                listen 127.0.0.1:$NGINX_HTTPS ssl;
                ssl_certificate $N/server.pem;
                ssl_certificate_key $N/server.key;
                root $T/www;
                location /slow/ { alias $T/www/; limit_rate 2k; }
                location /throttle/ { alias $T/www/; limit_rate 2m; }
                location = /fail { return 500; }
                location ~ ^/to-http/(.*)\$ { return 302 http://127.0.0.1:$NGINX_HTTP/\$1; }
        }
        server {
                listen 127.0.0.1:$NGINX_MTLS ssl;
                ssl_certificate $N/server.pem;
                ssl_certificate_key $N/server.key;
                ssl_client_certificate $N/ca.pem;
                ssl_verify_client on;
                root $T/www;
        }
}
CONF
                if nginx -c "$N/nginx.conf" -p "$N" 2>"$N/start.err"; then
                        on_exit 'kill "$(cat "$N/nginx.pid")" 2>/dev/null'
                        return 0
                fi
        done
        echo "nginx did not start: $(cat "$N/start.err")"
        return 1
}

# requests_for PATH: the access log lines for PATH.
requests_for() { grep -F "$1 " "$N/access.log" || true; }
