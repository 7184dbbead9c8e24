#!/bin/bash
# Reproducible bundles: with SOURCE_DATE_EPOCH the same tree, version and keys give the same
# bundle bytes, from copies of the tree that differ in place, file system, creation order, mtimes
# and owners; for erofs and squashfs. Without it the verity salt is random.
. "$(dirname "$0")/../lib/lib.sh"
command -v mkfs.erofs >/dev/null || { echo "SKIP: mkfs.erofs (erofs-utils) is not installed"; exit 77; }
command -v mksquashfs >/dev/null || { echo "SKIP: mksquashfs (squashfs-tools) is not installed"; exit 77; }

EPOCH=1700000000
EPOCH_TEXT="2023-11-14 22:13:20"
make_keys

# The same content twice. a: under $T, files created in one order, old mtimes, owned by daemon.
# b: on another file system (tmpfs, whose directories list newest first) at another path, created
# in the opposite order, mtimes now and in the future, owned by nobody.
S=$(mktemp -d /dev/shm/osupdate-repro.XXXXXX 2>/dev/null || mktemp -d "$T/other.XXXXXX")
on_exit "rm -rf '$S'"
A="$T/a/tree"
B="$S/some/other/place/usr"
head -c 300000 /dev/urandom >"$T/blob"
files=(lib/os-release bin/hello share/doc/blob share/doc/z share/doc/a share/empty/.keep etc/x/y/z)
put() { # put ROOT FILE
        mkdir -p "$(dirname "$1/$2")"
        case $2 in
        lib/os-release) printf 'ID=demo\nIMAGE_VERSION=1\n' >"$1/$2" ;;
        bin/hello) printf '#!/bin/sh\necho hello\n' >"$1/$2"; chmod 755 "$1/$2" ;;
        share/doc/blob) cp "$T/blob" "$1/$2" ;;
        *) printf '%s\n' "$2" >"$1/$2" ;;
        esac
}
mkdir -p "$A" "$B"
for f in "${files[@]}"; do put "$A" "$f"; done
for ((i = ${#files[@]} - 1; i >= 0; i--)); do put "$B" "${files[i]}"; done
for d in "$A" "$B"; do
        ln -s ../lib/os-release "$d/share/os-release"
        ln "$d/share/doc/a" "$d/share/doc/hardlink"
        find "$d" -type d -exec chmod 755 {} +
done
find "$A" -exec touch -h -d @1000 {} +
find "$B" -exec touch -h -d "@$(($(date +%s) + 86400))" {} +
chown -R -h daemon:daemon "$A"
chown -R -h nobody:nogroup "$B" 2>/dev/null || chown -R -h 65534:65534 "$B"

build() { # build OUT TREE [OPTIONS…] with SOURCE_DATE_EPOCH
        local out=$1 tree=$2
        shift 2
        SOURCE_DATE_EPOCH=$EPOCH "$OSUPDATE" bundle create --key "$T/k1.pem" --key "$T/k2.pem" --version 1 \
                --os-id demo --arch x86_64 --tree "$tree" "$@" -o "$out" >/dev/null
}
salt() { "$OSUPDATE" bundle info --json "$1" | jq -r '.manifest.images[0].verity.salt'; }

for fs in erofs squashfs; do
        check "$fs: build from copy a" build "$T/$fs-a.osup" "$A" --fstype "$fs"
        # From another directory, another umask and environment: nothing of it may show.
        (cd "$S" && umask 077 && TZ=Asia/Tokyo LC_ALL=C build "$T/$fs-b.osup" "$B" --fstype "$fs") &&
                ok "$fs: build from copy b" || not_ok "$fs: build from copy b"
        if cmp "$T/$fs-a.osup" "$T/$fs-b.osup"; then
                ok "$fs: the two bundles are byte for byte the same"
        else
                mkdir -p "$T/$fs-xa" "$T/$fs-xb"
                tar -C "$T/$fs-xa" -xf "$T/$fs-a.osup"
                tar -C "$T/$fs-xb" -xf "$T/$fs-b.osup"
                not_ok "$fs: bundles differ: $(cd "$T" && for m in manifest.json manifest.sig usr.$fs usr.verity; do
                        cmp -s "$fs-xa/$m" "$fs-xb/$m" || printf '%s ' "$m"; done)"
        fi
        expect "$fs: the reproducible bundle verifies" 0 "OK" "$OSUPDATE" bundle verify "$T/$fs-a.osup" --keys "$T/keys"

        # Every timestamp is SOURCE_DATE_EPOCH: the members', "created", every file's in the image.
        members=$(TZ=UTC tar --numeric-owner -tvf "$T/$fs-a.osup" --full-time)
        n_ok=$(grep -c " 0/0 .* $EPOCH_TEXT " <<<"$members" || true)
        [ "$n_ok" = 4 ] && ok "$fs: the 4 members are root's, mtime $EPOCH_TEXT" || not_ok "$fs: members: $members"
        created=$("$OSUPDATE" bundle info --json "$T/$fs-a.osup" | jq -r .manifest.created)
        [ "$created" = "2023-11-14T22:13:20Z" ] && ok "$fs: created = SOURCE_DATE_EPOCH" || not_ok "$fs: created $created"
        mkdir -p "$T/$fs-img"
        tar -C "$T/$fs-img" -xf "$T/$fs-a.osup" "usr.$fs"
done

# The old mtimes of copy a did not survive: every inode has SOURCE_DATE_EPOCH.
if command -v dump.erofs >/dev/null; then
        bad=""
        for f in / /bin/hello /share/doc/blob /share/os-release /etc/x/y/z; do
                ts=$(TZ=UTC dump.erofs --path="$f" "$T/erofs-img/usr.erofs" | awk '/^Timestamp:/ {print $2, $3}')
                [ "$(TZ=UTC date -d "${ts%.*}Z" +%s 2>/dev/null)" = "$EPOCH" ] || bad+=" $f=$ts"
        done
        [ -z "$bad" ] && ok "erofs: every file's mtime is SOURCE_DATE_EPOCH" || not_ok "erofs: mtimes:$bad"
fi
if command -v unsquashfs >/dev/null; then
        listing=$(unsquashfs -UTC -lln "$T/squashfs-img/usr.squashfs" | grep -v '^Parallel\|^$' | grep ' squashfs-root')
        others=$(grep -v " 0/0 .* 2023-11-14 22:13 " <<<"$listing" || true)
        [ -n "$listing" ] && [ -z "$others" ] && ok "squashfs: every file is root's with mtime SOURCE_DATE_EPOCH" ||
                not_ok "squashfs: $others"
fi

# Another version of the same tree: another salt (squashfs: the image itself is the same).
SOURCE_DATE_EPOCH=$EPOCH "$OSUPDATE" bundle create --key "$T/k1.pem" --version 2 --os-id demo --arch x86_64 \
        --tree "$A" --fstype squashfs -o "$T/v2.osup" >/dev/null
[ "$(salt "$T/v2.osup")" != "$(salt "$T/squashfs-a.osup")" ] && ok "another version, another salt" ||
        not_ok "version 2 has the salt of version 1"
# Other content, same version: another salt.
printf 'changed\n' >"$A/share/doc/z"
build "$T/changed.osup" "$A"
[ "$(salt "$T/changed.osup")" != "$(salt "$T/erofs-a.osup")" ] && ok "other content, another salt" ||
        not_ok "a changed tree kept the salt"

# Without SOURCE_DATE_EPOCH the salt is random: two builds of one tree differ in it.
for i in 1 2; do
        env -u SOURCE_DATE_EPOCH "$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo --tree "$A" \
                -o "$T/rand$i.osup" >/dev/null
done
s1=$(salt "$T/rand1.osup")
s2=$(salt "$T/rand2.osup")
[[ "$s1" =~ ^[0-9a-f]{64}$ && "$s1" != "$s2" ]] && ok "without SOURCE_DATE_EPOCH the salt is random" ||
        not_ok "salts $s1 and $s2"

# A malformed SOURCE_DATE_EPOCH is a usage error, not silently ignored.
SOURCE_DATE_EPOCH=yesterday expect "malformed SOURCE_DATE_EPOCH" 2 "SOURCE_DATE_EPOCH" \
        "$OSUPDATE" bundle create --key "$T/k1.pem" --version 1 --os-id demo --tree "$A" -o "$T/bad.osup"
[ ! -e "$T/bad.osup" ] && ok "nothing written for a malformed SOURCE_DATE_EPOCH" || not_ok "bad.osup exists"

finish
