# shellcheck shell=bash
# Boots Debian's own kernel (the one linux-image-amd64 depends on, unpacked by
# scripts/install-deps into /var/cache/osupdate-tests/kernel) under qemu with an initramfs built
# here: busybox, the osupdate binary with its libraries, the kernel modules a test needs, and the
# test's files. The guest runs $VM/guest.sh, prints "VMTEST ok - …"/"VMTEST not ok - …" lines on
# the serial console and powers off. Facts behind the choices: docs/kernel-mounts.md (qemu part).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"

KDIR=$(ls -d /var/cache/osupdate-tests/kernel/linux-image-*/ 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$KDIR" ] || [ ! -e "$KDIR/done" ]; then
        echo "SKIP: Debian's kernel for the qemu tests is not unpacked (scripts/install-deps fetches it)"
        exit 77
fi
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86 is not installed"; exit 77; }
[ -x /bin/busybox ] || { echo "SKIP: busybox-static is not installed"; exit 77; }
KVER=$(ls "$KDIR/root/lib/modules")
VM="$T/initramfs"
mkdir -p "$VM"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules,data}

# vm_add_binary PATH: copies PATH and every library it needs to the same place in the initramfs.
vm_add_binary() {
        local f lib
        mkdir -p "$VM$(dirname "$1")"
        cp -L "$1" "$VM$1"
        for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
                [ -e "$VM$lib" ] && continue
                mkdir -p "$VM$(dirname "$lib")"
                cp -L "$lib" "$VM$lib"
        done
        f=$(ldd "$1" | grep -o '/lib64/ld-linux[^ ]*' | head -1)
        [ -n "$f" ] && mkdir -p "$VM/lib64" && cp -L "$f" "$VM$f"
        return 0
}

# vm_add_modules NAME…: the modules and their dependencies, in load order, listed in /modules.
vm_add_modules() {
        local m line p
        for m in "$@"; do
                modprobe -d "$KDIR/root" -S "$KVER" --show-depends "$m" 2>/dev/null | while read -r line; do
                        p=$(awk '/^insmod/ {print $2}' <<<"$line")
                        [ -n "$p" ] || continue
                        grep -qxF "/lib/modules/$(basename "$p")" "$VM/modules" 2>/dev/null && continue
                        cp "$p" "$VM/lib/modules/"
                        echo "/lib/modules/$(basename "$p")" >>"$VM/modules"
                done
        done
        touch "$VM/modules"
}

# vm_run TIMEOUT: builds the initramfs around $VM/guest.sh, boots it, leaves the log in $T/serial.log.
vm_run() {
        local timeout=${1:-180}
        cp /bin/busybox "$VM/bin/busybox"
        cat >"$VM/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
for m in $(cat /modules); do insmod "$m" 2>/dev/null; done
export PATH=/bin:/sbin
sh /guest.sh 2>&1
echo "VMTEST done"
poweroff -f
INIT
        chmod +x "$VM/init" "$VM/guest.sh"
        (cd "$VM" && find . | cpio -o -H newc --quiet | gzip -1) >"$T/initrd.gz"
        timeout "$timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024 -nographic -no-reboot -nodefaults \
                -serial stdio -monitor none -kernel "$KDIR/root/boot/vmlinuz-$KVER" -initrd "$T/initrd.gz" \
                -append 'console=ttyS0 panic=-1 quiet loglevel=3' >"$T/serial.log" 2>&1 || true
        tr -d '\r' <"$T/serial.log" >"$T/serial.txt"
        if ! grep -q "^VMTEST done" "$T/serial.txt"; then
                not_ok "the guest did not finish; serial log:"
                tail -40 "$T/serial.txt"
                return
        fi
        local line
        while IFS= read -r line; do
                case $line in
                "VMTEST ok - "*) ok "guest: ${line#VMTEST ok - }" ;;
                "VMTEST not ok - "*) not_ok "guest: ${line#VMTEST not ok - }" ;;
                "VMTEST # "*) echo "# ${line#VMTEST # }" ;;
                esac
        done <"$T/serial.txt"
}
