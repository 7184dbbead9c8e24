# shellcheck shell=bash
# Helpers shared by the hardening-*.sh tests (sourced after ns.sh and, for downloads, nginx.sh).

# net_conf: [Network] for the local nginx (quick retries, the test CA).
net_conf() {
        cat >>"$CONF" <<CONF
[Network]
CAFile=$N/ca.pem
ConnectTimeout=5s
Retries=1
RetryDelay=100ms
CONF
}

# publish_big NAME VERSION [MiB]: $T/www/NAME, a bundle of VERSION with MiB (8) of random data, so
# that it takes seconds at /throttle/'s 2 MiB/s.
publish_big() {
        local name=$1 v=$2 mib=${3:-8}
        make_tree "$T/big$v" "$v"
        head -c $((mib * 1024 * 1024)) /dev/urandom >"$T/big$v/share/big"
        "$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version "$v" --tree "$T/big$v" -o "$T/www/$name" >/dev/null
}

# slot_file NAME: the path of NAME in whichever slot holds it (empty if none).
slot_file() { find "$T/state/slots" -name "$1" 2>/dev/null | head -1 || true; }

# cut_download URL: a fetch of URL killed (SIGKILL, as a crash or power loss would) once more
# than 1 MiB of the image is on disk. The slot keeps head.partial, resume.json, image.partial.
cut_download() {
        local pid
        touch "$T/cut.mark"
        "$OSUPDATE" fetch "$1" --config "$CONF" >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 200); do
                [ -n "$(find "$T/state/slots" -name image.partial -newer "$T/cut.mark" -size +1024k 2>/dev/null || true)" ] && break
                sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
}

# leftovers: partial files and resume records anywhere in the slots.
leftovers() { find "$T/state/slots" \( -name '*.partial' -o -name resume.json -o -name '*.tmp*' \) 2>/dev/null | sort || true; }

# flip_byte FILE OFFSET: XOR one byte with 1.
flip_byte() {
        local b
        b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
        # shellcheck disable=SC2059
        printf "\\$(printf %03o $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
