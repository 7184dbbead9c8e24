#!/bin/bash
# Finding: slots at rest are trusted. `apply --staged` and `rollback` read the slot's
# manifest.json without checking manifest.sig against the trusted keys, so whoever can write the
# state directory (or swap a disk) can make the next switch mount anything:
#   (a) a staged slot whose four files are replaced by those of a v2 bundle signed by the
#       UNTRUSTED key k3 (with an extra "evil" file);
#   (b) the same for the rollback slot (v2 in one slot, v3 live from the other);
#   (c) a staged slot whose image alone is replaced by another, validly built image;
#   (d) a staged slot whose image and hash tree are replaced by another bundle's (a consistent
#       pair that the signed manifest's root hash does not match).
# Safe: (a) apply --staged exits 11 (EKEYREJECTED), (b) rollback exits 11, (c) and (d) apply
# --staged exit 10 (EBADMSG); in each the live version stays, nothing of the attacker's image is
# visible, and state.json and pending.json are unchanged. No watcher sees an error or step back.
. "$(dirname "$0")/../lib/ns.sh"
. "$(dirname "$0")/../lib/attack.sh"

setup_target
for v in 2 3 4 5 6; do make_bundle "$v"; done
make_signed_bundle "$T/evil-v2.osup" 2 "$T/k3.pem"
make_signed_bundle "$T/evil-v3.osup" 3 "$T/k3.pem"
make_signed_bundle "$T/other-v5.osup" 5 "$T/k1.pem"
make_signed_bundle "$T/other-v6.osup" 6 "$T/k1.pem"
spawn_ns host host
spawn_ns service svc
sleep 0.3

no_evil() { # no_evil WHAT: the attacker's file is visible nowhere
        if [ -e "$TARGET/evil" ] || in_ns svc test -e "$TARGET/evil"; then
                not_ok "$1: the attacker's image is live"
        else
                ok "$1: nothing of the attacker's image is visible"
        fi
}

# (a) a staged slot swapped for a bundle signed by an untrusted key
expect "fetch v2" 0 "Fetched and verified 2" osup_t 30 fetch "$T/v2.osup"
slot_replace "$(slot_with 2)" "$T/evil-v2.osup"
before=$(state_snapshot)
expect "(a) apply --staged of a slot re-signed by the untrusted k3" 11 "" osup_t 30 apply --staged
expect_versions "(a) after the refused apply --staged" host=1 svc=1
no_evil "(a)"
expect_unchanged "(a)" "$before"

# (b) the rollback slot swapped the same way (each part starts from whatever the last one left)
expect "apply v3" 0 "-> 3" osup_t 30 apply "$T/v3.osup"
expect "apply v4" 0 "3 -> 4" osup_t 30 apply "$T/v4.osup"
slot_replace "$(slot_with 3)" "$T/evil-v3.osup"
before=$(state_snapshot)
expect "(b) rollback to a slot re-signed by the untrusted k3" 11 "" osup_t 30 rollback
expect_versions "(b) after the refused rollback" host=4 svc=4
no_evil "(b)"
expect_unchanged "(b)" "$before"

# (c) a staged slot with only its image swapped for another valid image
live=$(cat "$TARGET/version")
expect "fetch v5" 0 "Fetched and verified 5" osup_t 30 fetch "$T/v5.osup"
slot_replace "$(slot_with 5)" "$T/other-v5.osup" image
before=$(state_snapshot)
expect "(c) apply --staged of a slot whose image was swapped" 10 "" osup_t 30 apply --staged
expect_versions "(c) after the refused apply --staged" host="$live" svc="$live"
expect_unchanged "(c)" "$before"

# (d) image and hash tree swapped together (a consistent pair, another root hash)
live=$(cat "$TARGET/version")
expect "fetch v6" 0 "Fetched and verified 6" osup_t 30 fetch "$T/v6.osup"
slot_replace "$(slot_with 6)" "$T/other-v6.osup" image verity
before=$(state_snapshot)
expect "(d) apply --staged of a slot whose image and hash tree were swapped" 10 "" osup_t 30 apply --staged
expect_versions "(d) after the refused apply --staged" host="$live" svc="$live"
expect_unchanged "(d)" "$before"

check_watchers host svc
finish
