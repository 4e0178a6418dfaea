#!/bin/sh
# The firmware's boot entries for the two slots (RAUC's efi backend switches between them by their
# labels). Made on the first boot, from the ESP partitions of the disk the dock booted from; the
# slot that booted the first time (A) goes first in BootOrder, B is added only by an update.
set -eu
say() { echo "bodydock-bootentries: $*"; }
entry() { efibootmgr | sed -n "s/^Boot\([0-9A-Fa-f]\{4\}\)\*\{0,1\} $1\b.*/\1/p" | head -n1; }

for slot in a b; do
    [ -n "$(entry "bodydock-$slot")" ] && continue
    dev=$(readlink -f "/dev/disk/by-partlabel/esp-$slot")
    disk=/dev/$(lsblk -ndo PKNAME "$dev")
    part=$(cat "/sys/class/block/$(basename "$dev")/partition")
    if [ "$slot" = a ]; then create=--create; else create=--create-only; fi
    efibootmgr -q $create --disk "$disk" --part "$part" --label "bodydock-$slot" --loader '\EFI\BOOT\BOOTX64.EFI'
    say "created boot entry bodydock-$slot ($disk partition $part)"
done
