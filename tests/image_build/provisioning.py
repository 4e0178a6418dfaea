"""What a municipality puts on the provisioning stick (a FAT file system labelled BDCONFIG)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.image_build.lab import VAULT_GUEST_ADDR

STATION_ID = "dock-qemu-01"


def station_yaml(*, recipient: str, vault_host_key: str) -> str:
    """A real station config for the qemu dock: udev source, two slots on the xHCI root ports, SFTP vault."""
    return f"""\
station:
  id: {STATION_ID}
  name: "qemu test dock"
  timezone: Europe/Amsterdam
  language: nl
state_dir: /data/bodydock
slots:
  - id: 1
    usb_ports: ["1-1", "2-1"]
  - id: 2
    usb_ports: ["1-2", "2-2"]
dock:
  source: udev
  readiness_timeout_s: 120
store:
  path: /data/bodydock/store
  reserve_mb: 64
vault:
  target: sftp
  sftp:
    host: {VAULT_GUEST_ADDR}
    port: 22
    user: nobody
    private_key: /data/keys/vault_ed25519
    known_hosts_line: "{VAULT_GUEST_ADDR} {vault_host_key}"
    root: /vault
    connect_timeout_s: 60
    io_timeout_s: 120
  upload:
    retry_initial_s: 2
    retry_max_s: 15
  recipients:
    - {recipient}
keys:
  signing_key: /data/keys/station-signing.key
policies:
  wipe_after: vault_confirmed
  min_battery_percent: 0
  step_timeout_s: 1800
"""


def provisioning_disk(path: Path, files: dict[str, bytes], size_mb: int = 8) -> None:
    """A FAT image labelled BDCONFIG holding ``files`` (mkfs.vfat + mtools: no mount needed)."""
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    with path.open("wb") as fh:
        fh.truncate(size_mb << 20)
    subprocess.run(["mkfs.vfat", "-n", "BDCONFIG", str(path)], check=True, capture_output=True)
    staging = path.with_suffix(".files")
    staging.mkdir(exist_ok=True)
    for name, data in files.items():
        (staging / name).write_bytes(data)
        subprocess.run(["mcopy", "-i", str(path), str(staging / name), f"::/{name}"], check=True, env=env,
                       capture_output=True)
