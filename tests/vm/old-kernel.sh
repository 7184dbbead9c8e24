#!/bin/bash
# Under Debian 12's own kernel (6.1: device-mapper, but no MOVE_MOUNT_BENEATH), in qemu:
# `apply` verifies the slot through dm-verity in the kernel, finds it cannot mount beneath, says
# so clearly (exit 27), mounts and unmounts nothing, stages the slot for the next boot and leaves
# no dm device behind; `status` reports all of it.
. "$(dirname "$0")/vm.sh"

make_keys
for v in 1 2 3; do
        make_tree "$T/tree$v" "$v"
        "$OSUPDATE" bundle create --key "$T/k1.pem" --os-id demo --version "$v" --tree "$T/tree$v" -o "$VM/data/v$v.osup" >/dev/null
done
tar -C "$VM/data" -xf "$VM/data/v1.osup" usr.erofs && mv "$VM/data/usr.erofs" "$VM/data/v1.erofs"
cp -r "$T/keys" "$VM/data/keys"
printf '[Update]\nTarget=/t/root/usr\nStateDirectory=/data/state\nKeysDirectory=/data/keys\nRuntimeDirectory=/run/osupdate\n' >"$VM/data/c.conf"
vm_add_binary "$OSUPDATE"
mkdir -p "$VM/usr/bin" && mv "$VM$OSUPDATE" "$VM/bin/osupdate"
vm_add_modules loop dm-verity erofs
cat >"$VM/guest.sh" <<'GUEST'
O="/bin/osupdate"
C="--config /data/c.conf"
ok() { echo "VMTEST ok - $*"; }
nok() { echo "VMTEST not ok - $*"; }
echo "VMTEST # kernel $(uname -r)"
mkdir -p /t/root && mount -t tmpfs t /t/root && mkdir /t/root/usr || nok "cannot set up the target"
mount -o ro,loop /data/v1.erofs /t/root/usr
[ "$(cat /t/root/usr/version)" = 1 ] && ok "v1 mounted at the target" || nok "v1 not mounted"

out=$($O status $C 2>&1)
echo "$out" | grep -q "mount-beneath no, device-mapper yes" && ok "status: no mount-beneath, device-mapper present" || nok "status: $out"

out=$(OSUPDATE_DEBUG=1 $O apply /data/v2.osup $C 2>&1); rc=$?
[ "$rc" = 27 ] && ok "apply exits 27 on a kernel without mount-beneath" || nok "apply exit $rc: $out"
echo "$out" | grep -q "cannot mount beneath .*version 2 is staged in slot a for the next boot" && ok "apply says it staged v2 for the next boot" || nok "message: $out"
echo "$out" | grep -q "verified by dm-verity in the kernel: mounting /dev/mapper/osupdate-usr-a" && ok "the slot went through kernel dm-verity" || nok "no kernel dm-verity: $out"
[ "$(cat /t/root/usr/version)" = 1 ] && ok "the live version is still 1" || nok "live version changed"
n=$(grep -c " /t/root/usr " /proc/self/mountinfo)
[ "$n" = 1 ] && ok "still exactly one mount at the target" || nok "$n mounts at the target"
sleep 1
dms=$(ls /sys/block | grep -c '^dm-')
[ "$dms" = 0 ] && ok "no dm-verity device left behind" || nok "$dms dm devices remain: $(cat /sys/block/dm-*/dm/name)"
st=$(cat /data/state/state.json)
echo "$st" | tr -d ' \n' | grep -q '"staged":"a"' && echo "$st" | tr -d ' \n' | grep -q '"next_boot":"a"' && echo "$st" | tr -d ' \n' | grep -q '"active":null' &&
        ok "state: slot a staged and next to boot, nothing active" || nok "state: $st"
out=$($O status $C 2>&1)
echo "$out" | grep -q "Staged:        slot a, version 2, for the next boot" && ok "status reports the staged slot" || nok "status: $out"

# A newer bundle replaces what is staged (the staged slot is neither booted nor live).
out=$($O apply /data/v3.osup $C 2>&1); rc=$?
[ "$rc" = 27 ] && grep -q '"version": "3"' /data/state/state.json && ok "a newer bundle stages over the staged slot (exit 27)" || nok "apply v3 exit $rc: $out"
[ "$(cat /t/root/usr/version)" = 1 ] && ok "the live version is still 1 after the second apply" || nok "live version changed"
GUEST
vm_run 240
finish
