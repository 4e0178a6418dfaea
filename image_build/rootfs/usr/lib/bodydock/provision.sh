#!/bin/sh
# First boot provisioning: the station's configuration comes from a FAT file system labelled
# BDCONFIG (the config partition of the flashed disk, or a USB stick). Keys are made here, on the
# dock; their public halves are printed on the console for registering the dock at the vault.
set -eu
CONF=/data/config
KEYS=/data/keys
VENV=/opt/bodydock/venv/bin
say() { echo "bodydock-provision: $*"; }

if [ ! -e "$CONF/station.yaml" ]; then
    mnt=/run/bodydock-provision
    mkdir -p "$mnt"
    while :; do
        for dev in $(blkid -o device -t LABEL=BDCONFIG 2>/dev/null); do
            mount -o ro,nosuid,nodev,noexec "$dev" "$mnt" 2>/dev/null || continue
            if [ -f "$mnt/station.yaml" ]; then
                found=$dev
                break 2
            fi
            umount "$mnt"
        done
        say "waiting for provisioning: a FAT stick or partition labelled BDCONFIG with station.yaml"
        sleep 10
    done
    say "provisioning from $found"
    install -m 0640 -o root -g bodydock "$mnt/station.yaml" "$CONF/station.yaml.new"
    [ -f "$mnt/roster.yaml" ] && install -m 0640 -o root -g bodydock "$mnt/roster.yaml" "$CONF/roster.yaml"
    [ -f "$mnt/status.secret" ] && install -m 0600 -o bodydock -g bodydock "$mnt/status.secret" "$CONF/status.secret"
    [ -f "$mnt/maintenance_authorized_keys" ] && \
        install -m 0644 -o root -g root "$mnt/maintenance_authorized_keys" "$CONF/maintenance_authorized_keys"
    if [ -d "$mnt/chrony" ]; then
        install -d -m 0755 "$CONF/chrony"
        for f in "$mnt"/chrony/*.sources; do [ -f "$f" ] && install -m 0644 "$f" "$CONF/chrony/"; done
    fi
    umount "$mnt"
    sync
    # Last, so a half-copied provisioning is redone on the next boot.
    mv "$CONF/station.yaml.new" "$CONF/station.yaml"
    say "configuration installed; the stick may be removed"
fi

if [ ! -e "$KEYS/station-signing.key" ]; then
    "$VENV/bodydock" keygen --signing-key "$KEYS/station-signing.key" >/dev/null
    chown bodydock:bodydock "$KEYS/station-signing.key"
fi
if [ ! -e "$KEYS/vault_ed25519" ]; then
    ssh-keygen -q -t ed25519 -N "" -C "bodydock-vault-client" -f "$KEYS/vault_ed25519"
    chown bodydock:bodydock "$KEYS/vault_ed25519" "$KEYS/vault_ed25519.pub"
fi
if [ ! -e /data/ssh/ssh_host_ed25519_key ]; then
    ssh-keygen -q -t ed25519 -N "" -C "" -f /data/ssh/ssh_host_ed25519_key
fi

# Printed on every boot: what the vault administrator registers (public halves only).
ident=$("$VENV/bodydock" identity --signing-key "$KEYS/station-signing.key")
fp=$(echo "$ident" | sed -n 's/^fingerprint: //p')
say "station signing key fingerprint: $fp"
say "station signing public key: $(echo "$ident" | sed -n 's/^public key: //p')"
say "vault SSH client key: $(cat "$KEYS/vault_ed25519.pub")"
say "dock SSH host key: $(cut -d' ' -f1,2 /data/ssh/ssh_host_ed25519_key.pub)"
echo "$ident" > /run/bodydock-identity.txt
