# shellcheck shell=bash
# A machine that boots, for the tests whose verdict comes from the next boot (sourced after ns.sh,
# with $T/v1.osup made): its root R on a shared tmpfs (a live switch places the new /usr beneath the
# old one), v1 provisioned into slot a; the boot stage (osupdate-initrd on the host, degraded
# verity, [Boot] Tries=2 Limit=3) mounts a slot at R/usr from R/var/lib/osupdate; /run is $RUN.
#   reboot      what a restart does here: /usr unmounted, /run emptied, the boot stage (≤ 60 s);
#               RC and OUT set, a failing stage is a failed check
#   usr_version the version file of the mounted /usr ("none")
: "${OSUPDATE_INITRD:?OSUPDATE_INITRD must point to the osupdate-initrd binary}"
R=$T/root
S=$R/var/lib/osupdate
RUN=$T/run
ICONF=$T/initrd.conf
mkdir -p "$R"
mount -t tmpfs -o size=64m,mode=755 osupdate-test "$R"
mount --make-shared "$R"
mkdir -p "$R/etc/osupdate/keys.d" "$R/var/lib" "$R/usr"
cp "$T/keys/k1.pem" "$R/etc/osupdate/keys.d/"
"$OSUPDATE" provision -q "$T/v1.osup" --root "$R"
# The initramfs's configuration and keys.
printf '[Update]\nVerity=userspace\n[Boot]\nTries=2\nLimit=3\n' >"$ICONF"
printf 'quiet\n' >"$T/cmdline"

usr_version() { cat "$R/usr/version" 2>/dev/null || echo none; }
reboot() {
        while mountpoint -q "$R/usr"; do umount "$R/usr"; done
        rm -rf "$RUN"
        RC=0
        OUT=$(timeout -s KILL 60 "$OSUPDATE_INITRD" --root "$R" --config "$ICONF" --keys "$T/keys" \
                --cmdline "$T/cmdline" --run-dir "$RUN" 2>&1) || RC=$?
        [ "$RC" = 0 ] || not_ok "the boot stage failed (exit $RC): $OUT"
}
