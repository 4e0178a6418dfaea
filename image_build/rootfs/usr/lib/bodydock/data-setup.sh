#!/bin/sh
# /data: the station's state, store, keys, journal and the update status, on LUKS2 unlocked by the
# TPM2. First boot: the partition is made in the free space after the image, formatted with a
# random key that is enrolled in the TPM (PCR 7: the firmware's Secure Boot state, unchanged by A/B
# updates) and then removed, so the TPM of this dock is the only way in.
set -eu
PART=/dev/disk/by-partlabel/bd-data
say() { echo "bodydock-data: $*"; }

udevadm settle --timeout=30 || true
# The TPM's kernel driver may come up after udev's first pass.
udevadm wait --timeout=60 /dev/tpmrm0 || { say "no TPM2 (/dev/tpmrm0): /data cannot be unlocked"; exit 1; }

if [ ! -e "$PART" ]; then
    esp=$(readlink -f /dev/disk/by-partlabel/esp-a)
    disk=/dev/$(lsblk -ndo PKNAME "$esp")
    say "first boot: creating the encrypted data partition on $disk"
    # The image was written to a larger disk: move the backup GPT to its end first.
    sfdisk --relocate gpt-bak-std "$disk"
    echo 'size=+, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="bd-data"' | \
        sfdisk --append --no-reread --quiet "$disk"
    nr=$(sfdisk --dump "$disk" | grep -c '^/dev/')
    partx --add --nr "$nr" "$disk"
    udevadm settle --timeout=30 || true
    udevadm wait --timeout=30 "$PART"
    key=$(mktemp /run/bd-data-key.XXXXXX)
    trap 'shred -u "$key" 2>/dev/null || rm -f "$key"' EXIT
    head -c 64 /dev/urandom > "$key"
    # The key is random (not a passphrase): a slow KDF would add nothing but boot time.
    cryptsetup luksFormat --batch-mode --type luks2 --label bd-data --pbkdf pbkdf2 \
        --pbkdf-force-iterations 1000 --key-file "$key" "$PART"
    systemd-cryptenroll --unlock-key-file="$key" --tpm2-device=auto --tpm2-pcrs=7 "$PART"
    cryptsetup luksKillSlot --batch-mode "$PART" 0
    /usr/lib/systemd/systemd-cryptsetup attach data "$PART" - tpm2-device=auto,headless=true
    mkfs.ext4 -q -L data -E lazy_itable_init=1,lazy_journal_init=1 /dev/mapper/data
    say "created and enrolled in the TPM2"
elif [ ! -e /dev/mapper/data ]; then
    /usr/lib/systemd/systemd-cryptsetup attach data "$PART" - tpm2-device=auto,headless=true
fi
mkdir -p /data
mountpoint -q /data || mount -o nosuid,nodev,noexec /dev/mapper/data /data
# What lives on /data (idempotent: made on first boot, checked on every boot).
install -d -m 0755 /data/journal /data/rauc
install -d -m 0700 /data/ssh
install -d -m 0750 -o root -g bodydock /data/config
install -d -m 0750 -o bodydock -g bodydock /data/bodydock /data/bodydock/store /data/keys
chown root:systemd-journal /data/journal && chmod 2755 /data/journal
say "/data mounted ($(cryptsetup status data | sed -n 's/^ *type: *//p'))"
