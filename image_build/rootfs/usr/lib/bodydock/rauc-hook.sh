#!/bin/sh
# RAUC bundle hook: installs the EFI slot. The bundle carries one UKI per slot (each names its own
# root and verity partitions and the root hash); the slot's ESP is formatted and gets its UKI.
set -eu
case "$1" in
slot-install)
    case "$RAUC_SLOT_NAME" in
        efi.0) slot=a ;;
        efi.1) slot=b ;;
        *) echo "rauc-hook: unexpected slot $RAUC_SLOT_NAME" >&2; exit 1 ;;
    esac
    work=$(mktemp -d /run/rauc-efi.XXXXXX)
    trap 'umount "$work/esp" 2>/dev/null || true; rm -rf "$work"' EXIT
    tar -xf "$RAUC_IMAGE_NAME" -C "$work" "uki-$slot.efi"
    mkfs.vfat -F 32 -n "ESP-$(echo $slot | tr a-z A-Z)" "$RAUC_SLOT_DEVICE" >/dev/null
    mkdir "$work/esp"
    mount -t vfat "$RAUC_SLOT_DEVICE" "$work/esp"
    mkdir -p "$work/esp/EFI/BOOT"
    cp "$work/uki-$slot.efi" "$work/esp/EFI/BOOT/BOOTX64.EFI"
    sync
    ;;
*)
    exit 0
    ;;
esac
