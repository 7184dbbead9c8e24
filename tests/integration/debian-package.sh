#!/bin/bash
# The Debian package (debian/): `dpkg-buildpackage -b -us -uc` on a copy of the source tree builds
# osupdate_*.deb; lintian reports no error; the package holds the binary, the units, the man pages,
# the bash completion, the directories and /etc/osupdate/osupdate.conf as a conffile. The package is
# then installed with dpkg into a throwaway root: this system seen through overlays whose writable
# halves live in a tmpfs of a private mount namespace, so dpkg checks Depends against the libraries
# really installed here and runs the maintainer scripts, and nothing reaches the real /usr, /etc or
# /var. There `osupdate --version` must name the changelog's version; `dpkg -r` keeps the conffile,
# `dpkg -P` removes it. Also: `cmake --install` keeps an existing osupdate.conf, and the default
# osupdate.conf lists every key of updater/config.c with a value osupdate accepts.
# Takes a minute or two: it compiles osupdate once, and lintian is slow.

if [ -z "${OSUPDATE_DEB_IN_PRIVATE_NS:-}" ]; then
        if [ "$(id -u)" != 0 ]; then
                echo "SKIP: needs root (mount namespace, chroot, dpkg)"
                exit 77
        fi
        if ! unshare -m --propagation private true 2>/dev/null; then
                echo "SKIP: cannot create a mount namespace here"
                exit 77
        fi
        export OSUPDATE_DEB_IN_PRIVATE_NS=1
        exec unshare -m --propagation private bash "$0" "$@"
fi

. "$(dirname "$0")/../lib/lib.sh"

src=$(cd "$(dirname "$0")/../.." && pwd)
missing=()
for tool in dpkg-buildpackage dh lintian dpkg-parsechangelog; do
        command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
        not_ok "missing ${missing[*]}: scripts/install-deps installs debhelper (with dpkg-dev) and lintian"
        finish
fi

version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
built=$("$OSUPDATE" --version)
[ "$built" = "osupdate $version" ] && ok "the built binary's version is debian/changelog's ($version)" ||
        not_ok "osupdate --version says '$built', debian/changelog says $version"

# --- The default osupdate.conf: every key, each commented out, each value accepted ------------------
conf="$src/updater/osupdate.conf"
keys=$(grep -oE '\{ "[A-Za-z]+", "[A-Za-z]+",' "$src/updater/config.c" | sed -E 's/\{ "([A-Za-z]+)", "([A-Za-z]+)",/\1 \2/')
[ "$(wc -l <<<"$keys")" -ge 10 ] && ok "config.c names $(wc -l <<<"$keys") keys" || not_ok "keys of config.c: $keys"
while read -r section key; do
        # The key, commented out, below its own [Section] and before the next one.
        if awk -v s="[$section]" -v k="#$key=" '/^\[/ { in_s = ($0 == s) } in_s && index($0, k) == 1 { found = 1 }
                END { exit !found }' "$conf"; then
                :
        else
                not_ok "updater/osupdate.conf lacks #$key= in [$section]"
        fi
done <<<"$keys"
grep -qE '^[A-Za-z]+=' "$conf" && not_ok "updater/osupdate.conf sets a key: $(grep -E '^[A-Za-z]+=' "$conf")" ||
        ok "updater/osupdate.conf sets nothing: every key is commented out"
make_keys
expect "the default osupdate.conf loads" 3 "$T/none.osup" \
        "$OSUPDATE" bundle verify --config "$conf" --keys "$T/keys" "$T/none.osup"
# Every default shown, uncommented, is accepted (the keys without a value stay commented out).
sed -E 's/^#([A-Za-z]+=.+)$/\1/' "$conf" >"$T/uncommented.conf"
n=$(grep -cE '^[A-Za-z]+=' "$T/uncommented.conf")
expect "the $n defaults of osupdate.conf, uncommented, load" 3 "$T/none.osup" \
        "$OSUPDATE" bundle verify --config "$T/uncommented.conf" --keys "$T/keys" "$T/none.osup"
{ cat "$T/uncommented.conf"; printf '[Update]\nVerity=sometimes\n'; } >"$T/broken.conf"
expect "while a bad value in it is a configuration error" 4 "invalid value for Verity=" \
        "$OSUPDATE" bundle verify --config "$T/broken.conf" --keys "$T/keys" "$T/none.osup"

# --- cmake --install: the layout, and an administrator's osupdate.conf is kept ------------------------
builddir=$(dirname "$OSUPDATE")
if out=$(DESTDIR="$T/stage" cmake --install "$builddir" --prefix /usr 2>&1); then
        ok "cmake --install --prefix /usr into a DESTDIR"
else
        not_ok "cmake --install: $out"
fi
for p in usr/bin/osupdate etc/osupdate/osupdate.conf etc/osupdate/keys.d etc/osupdate/policy.d var/lib/osupdate \
        usr/share/man/man8/osupdate.8 usr/share/man/man5/osupdate.conf.5 usr/share/bash-completion/completions/osupdate; do
        [ -e "$T/stage/$p" ] || not_ok "cmake --install did not install /$p"
done
unitdir=$(grep -E '^OSUPDATE_SYSTEMD_UNIT_DIR:' "$builddir/CMakeCache.txt" | cut -d= -f2-)
[ -n "$unitdir" ] && [ -e "$T/stage$unitdir/osupdate-expire.timer" ] && ok "units installed to $unitdir" ||
        not_ok "no units in '$unitdir'"
echo "# the administrator's" >"$T/stage/etc/osupdate/osupdate.conf"
DESTDIR="$T/stage" cmake --install "$builddir" --prefix /usr >/dev/null 2>&1 || true
[ "$(cat "$T/stage/etc/osupdate/osupdate.conf")" = "# the administrator's" ] &&
        ok "cmake --install again keeps an existing osupdate.conf" || not_ok "cmake --install overwrote osupdate.conf"

# --- Build the package in a copy of the tree (it writes ../*.deb; the checkout stays clean) ---------
mkdir "$T/pkg" "$T/pkg/src"
tar -C "$src" --exclude='./build*' --exclude=./.git --exclude='./obj-*' -cf - . | tar -C "$T/pkg/src" -xf -
# CI=true, as CI sets it (cmake/Warnings.cmake then turns -Werror on): the package build must still
# be without -Werror (debian/rules).
if (cd "$T/pkg/src" && CI=true dpkg-buildpackage -b -us -uc) >"$T/build.log" 2>&1; then
        ok "dpkg-buildpackage -b -us -uc"
else
        tail -40 "$T/build.log"
        not_ok "dpkg-buildpackage failed (log above)"
        finish
fi
deb=$(ls "$T"/pkg/osupdate_"$version"_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] && ok "built ${deb##*/}" || { not_ok "no osupdate_${version}_*.deb in: $(ls "$T/pkg")"; finish; }
grep -q -- "-DOSUPDATE_WERROR=OFF" "$T/build.log" && grep -q -- ' -Wshadow ' "$T/build.log" &&
        ! grep -q -- ' -Werror ' "$T/build.log" && ok "the package is built with our warnings, without -Werror (CI set)" ||
        not_ok "OSUPDATE_WERROR=OFF not passed, or -Werror in a compile line"

# lintian: no error (its exit status: 0 none, 1 errors, 2 lintian itself failed); the rest is printed.
rc=0
lintian --display-info --tag-display-limit 0 "$deb" >"$T/lintian.out" 2>"$T/lintian.err" || rc=$?
sed 's/^/  lintian: /' "$T/lintian.out"
grep -v 'running with root privileges' "$T/lintian.err" | sed 's/^/  lintian stderr: /' || true
errors=$(grep -c '^E: ' "$T/lintian.out" || true)
[ "$rc" = 0 ] && [ "$errors" = 0 ] && ok "lintian: no errors ($(grep -c '^W: ' "$T/lintian.out" || true) warnings)" ||
        not_ok "lintian: exit $rc, $errors errors"

# Contents.
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' >"$T/contents"
expected=(/usr/bin/osupdate
        /lib/systemd/system/osupdate-expire.service /lib/systemd/system/osupdate-expire.timer
        /lib/systemd/system/osupdate-mark-good.service /lib/systemd/system/osupdate-agent.service
        /usr/share/man/man8/osupdate.8.gz /usr/share/man/man5/osupdate.conf.5.gz
        /usr/share/man/man5/osupdate.policy.5.gz /usr/share/man/man5/osupdate-bundle.5.gz
        /usr/share/bash-completion/completions/osupdate
        /usr/lib/osupdate/osupdate-initrd /lib/systemd/system/osupdate-initrd.service /usr/share/man/man8/osupdate-initrd.8.gz
        /etc/osupdate/osupdate.conf /etc/osupdate/keys.d /etc/osupdate/policy.d /var/lib/osupdate
        /usr/share/doc/osupdate/copyright /usr/share/doc/osupdate/README.md)
absent=()
for p in "${expected[@]}"; do
        grep -qxF "$p" "$T/contents" || absent+=("$p")
done
[ "${#absent[@]}" = 0 ] && ok "the package holds all ${#expected[@]} expected paths" ||
        not_ok "missing from the package: ${absent[*]}"
cmp -s <(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./etc/osupdate/osupdate.conf) "$conf" &&
        ok "/etc/osupdate/osupdate.conf is updater/osupdate.conf" || not_ok "the packaged osupdate.conf differs"
# The units' ExecStart= is where the binaries land.
execs=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - --wildcards './lib/systemd/system/*.service' | grep '^ExecStart=')
! grep -qvE '^ExecStart=(/usr/bin/osupdate|/usr/lib/osupdate/osupdate-initrd) ' <<<"$execs" && grep -qxF /usr/bin/osupdate "$T/contents" &&
        grep -q '^ExecStart=/usr/lib/osupdate/osupdate-initrd --root /sysroot' <<<"$execs" &&
        ok "every ExecStart= runs a packaged binary (/usr/bin/osupdate, /usr/lib/osupdate/osupdate-initrd)" ||
        not_ok "ExecStart= lines: $execs"
# The initramfs-tools integration is its own package, the opt-in to booting from the slots: the
# hook refuses to build an initramfs without keys, and that initramfs refuses to boot without a slot.
grep -q '^/usr/share/initramfs-tools' "$T/contents" && not_ok "the osupdate package holds initramfs-tools files" ||
        ok "the osupdate package holds no initramfs-tools hook (an ordinary machine's update-initramfs is unaffected)"
ideb=$(ls "$T"/pkg/osupdate-initramfs_"$version"_all.deb 2>/dev/null | head -1)
if [ -n "$ideb" ]; then
        icontents=$(dpkg-deb -c "$ideb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||')
        grep -qxF /usr/share/initramfs-tools/hooks/osupdate <<<"$icontents" &&
                grep -qxF /usr/share/initramfs-tools/scripts/local-bottom/osupdate <<<"$icontents" &&
                ok "osupdate-initramfs holds the hook and the local-bottom script" || not_ok "osupdate-initramfs: $icontents"
        dpkg-deb -c "$ideb" | grep -E 'hooks/osupdate$|local-bottom/osupdate$' | grep -qv '^-rwxr-xr-x' &&
                not_ok "hook or script not executable in osupdate-initramfs" || ok "hook and script are executable"
        grep -q 'osupdate (>= ' <<<"$(dpkg-deb -f "$ideb" Depends)" && grep -q initramfs-tools-core <<<"$(dpkg-deb -f "$ideb" Depends)" &&
                ok "osupdate-initramfs Depends: $(dpkg-deb -f "$ideb" Depends)" || not_ok "osupdate-initramfs Depends: $(dpkg-deb -f "$ideb" Depends)"
        rc=0
        lintian --tag-display-limit 0 "$ideb" >"$T/lintian-i.out" 2>/dev/null || rc=$?
        sed 's/^/  lintian: /' "$T/lintian-i.out"
        [ "$rc" = 0 ] && ! grep -q '^E: ' "$T/lintian-i.out" && ok "lintian osupdate-initramfs: no errors" ||
                not_ok "lintian osupdate-initramfs: exit $rc"
else
        not_ok "no osupdate-initramfs_${version}_all.deb in: $(ls "$T/pkg")"
fi
mkdir "$T/control"
dpkg-deb -e "$deb" "$T/control"
[ "$(cat "$T/control/conffiles" 2>/dev/null)" = /etc/osupdate/osupdate.conf ] &&
        ok "conffiles: /etc/osupdate/osupdate.conf" || not_ok "conffiles: $(cat "$T/control/conffiles" 2>&1)"
depends=$(dpkg-deb -f "$deb" Depends)
grep -q 'libcurl' <<<"$depends" && grep -q 'libcryptsetup' <<<"$depends" && ok "Depends: $depends" ||
        not_ok "Depends lacks the shared libraries: $depends"

# --- Install into a throwaway root --------------------------------------------------------------------
# $T/root: a tmpfs; /usr, /etc and /var are overlays of this system's with their upper halves in a
# second tmpfs, so dpkg in the chroot sees this system's dpkg database and libraries and writes only
# to the tmpfs. Mounts vanish with this namespace; unmounted before $T is removed all the same.
root="$T/root"
mkdir "$root" "$T/rw"
mount -t tmpfs -o mode=0755 tmpfs "$root"
mount -t tmpfs tmpfs "$T/rw"
on_exit 'umount -R -l "$T/root" "$T/rw" 2>/dev/null'
for d in usr etc var; do
        mkdir -p "$T/rw/$d.upper" "$T/rw/$d.work" "$root/$d"
        if ! mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/rw/$d.upper,workdir=$T/rw/$d.work" "$root/$d"; then
                echo "SKIP: overlayfs cannot be mounted here"
                exit 77
        fi
done
for l in bin sbin lib lib32 lib64 libx32; do
        if [ -L "/$l" ]; then
                ln -s "$(readlink "/$l")" "$root/$l"
        elif [ -d "/$l" ]; then
                mkdir "$root/$l"
                mount --bind -o ro "/$l" "$root/$l"
        fi
done
mkdir -p "$root/tmp" "$root/run" "$root/dev" "$root/root"
chmod 1777 "$root/tmp"
touch "$root/dev/null"
mount --bind /dev/null "$root/dev/null"
cp "$deb" "$root/tmp/"
inroot() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

dpkg-query -W osupdate >/dev/null 2>&1 && echo "note: osupdate is installed on this system; the root starts with it"
if out=$(inroot dpkg -i "/tmp/${deb##*/}" 2>&1); then
        ok "dpkg -i in the throwaway root (Depends satisfied, maintainer scripts ran)"
else
        not_ok "dpkg -i: $out"
fi
[ -e "$T/rw/usr.upper/bin/osupdate" ] && ok "the binary landed in the root's overlay, not in /usr" ||
        not_ok "no usr/bin/osupdate in the overlay's upper half"
out=$(inroot osupdate --version 2>&1) || true
[ "$out" = "osupdate $version" ] && ok "osupdate --version in the root: $out" || not_ok "osupdate --version in the root: $out"
expect "osupdate --help in the root" 0 "apply" inroot osupdate --help
inroot dpkg -L osupdate >"$T/listed" 2>&1 || true
grep -qxF /usr/bin/osupdate "$T/listed" && grep -qxF /etc/osupdate/osupdate.conf "$T/listed" &&
        grep -qxF /usr/share/man/man8/osupdate.8.gz "$T/listed" && ok "dpkg -L osupdate lists binary, conffile, man page" ||
        not_ok "dpkg -L osupdate: $(cat "$T/listed")"
[ "$(inroot dpkg-query -W -f='${Status} ${Version}' osupdate 2>&1)" = "install ok installed $version" ] &&
        ok "dpkg-query: install ok installed $version" || not_ok "dpkg-query: $(inroot dpkg-query -W osupdate 2>&1)"
[ -L "$root/etc/systemd/system/timers.target.wants/osupdate-expire.timer" ] &&
        [ -L "$root/etc/systemd/system/multi-user.target.wants/osupdate-mark-good.service" ] &&
        ok "postinst enabled osupdate-expire.timer and osupdate-mark-good.service (in the root)" ||
        not_ok "units not enabled in the root"
if [ -x "$root/usr/bin/man" ]; then
        out=$(inroot man -w osupdate.conf 2>&1) || true
        [ "$out" = /usr/share/man/man5/osupdate.conf.5.gz ] && ok "man -w osupdate.conf: $out" ||
                not_ok "man -w osupdate.conf: $out"
fi

echo "# edited" >>"$root/etc/osupdate/osupdate.conf"
if out=$(inroot dpkg -r osupdate 2>&1); then ok "dpkg -r osupdate"; else not_ok "dpkg -r: $out"; fi
[ ! -e "$root/usr/bin/osupdate" ] && [ -f "$root/etc/osupdate/osupdate.conf" ] &&
        grep -q '^# edited' "$root/etc/osupdate/osupdate.conf" && ok "remove: binary gone, the edited conffile kept" ||
        not_ok "after dpkg -r: $(ls -la "$root/usr/bin/osupdate" "$root/etc/osupdate" 2>&1)"
if out=$(inroot dpkg -P osupdate 2>&1); then ok "dpkg -P osupdate"; else not_ok "dpkg -P: $out"; fi
[ ! -e "$root/etc/osupdate/osupdate.conf" ] && [ ! -e "$root/etc/systemd/system/timers.target.wants/osupdate-expire.timer" ] &&
        ok "purge: conffile and unit links gone" || not_ok "after dpkg -P: $(ls -la "$root/etc/osupdate" 2>&1)"
inroot dpkg-query -W osupdate >/dev/null 2>&1 && not_ok "osupdate still known to dpkg after purge" ||
        ok "dpkg no longer knows osupdate in the root"

finish
