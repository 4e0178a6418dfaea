"""Appliance image benchmark: size, boot to READY against a plain Debian, and the running dock's memory.

1. ``image_mb``: the raw disk image as flashed (MiB), with the erofs root and the allocated size.
2. ``ratio_boot_vs_plain_debian``: under the same qemu (TCG, OVMF, 2 vCPUs, 2 GiB), seconds from a
   reset to bodydock READY (the health check's first line on the serial console: it starts after
   bodydock.service, Type=notify) divided by seconds from a reset to ``multi-user.target`` of a minimal Debian 13
   (minbase + kernel + systemd, ext4 root, the same kernel, UKI and firmware). Both are measured on
   a second boot, after a first one that did the one-time work (the dock's provisioning and LUKS
   creation; the plain system's machine-id); ``first_boot_s`` is reported as well. Target: <= 1.5.
3. ``appliance_rss_mb``: the RSS of the station's and the kiosk's processes (bodydock daemon, cage,
   Xwayland, the Kivy kiosk) once READY, read over maintenance SSH.
4. ``appliance_boot``: the guest's own account of that second boot (``systemd-analyze time``, the
   critical chain to bodydock.service, the slowest units), to say where the time goes.

Run as root after ``make image``: ``.venv/bin/python bench/image.py``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.image_build.lab import Dock, wait_until  # noqa: E402
from tests.image_build.provisioning import provisioning_disk, station_yaml  # noqa: E402
from tests.upload.lab.sshd import keygen  # noqa: E402

OUT = ROOT / "image_build" / "out"
# systemd writes no unit status to the console while a getty runs on it (serial-getty@ttyS0 starts
# early), so "Started bodydock.service" never shows up there. Both systems print their own line
# instead: the dock's health check starts right after bodydock.service is up (Type=notify: READY=1
# was sent), the plain system's boot-marker unit right after multi-user.target.
READY = r"bodydock-health: slot \S+, image version"
MULTI_USER = r"plain: multi-user\.target reached"
RECIPIENT = "age1r2vmhw9a9s92kmk023n8hchaltuxjxqcnk82a2hzy2rzv92z35kse5ut09"  # config/example.yaml's
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVh0fGoFRfqT5yK0A7bDNpgd4m6mXkHP2E9fPbq1qrZ"


def _reset_and_time(dock: Dock, pattern: str) -> float:
    assert dock.qmp is not None
    offset = len(dock.console())
    t0 = time.monotonic()
    dock.qmp.execute("system_reset")
    dock.wait_console(pattern, after=offset, timeout=1800)
    return time.monotonic() - t0


def boot_plain(work: Path) -> tuple[float, float]:
    disk = Path(subprocess.run([sys.executable, str(ROOT / "image_build" / "build.py"), "plain"], check=True,
                               capture_output=True, text=True).stdout.strip().splitlines()[-1])
    dock = Dock(work=work / "plain", image=disk, disk_gb=3).prepare()
    t0 = time.monotonic()
    dock.start()
    try:
        dock.wait_console(MULTI_USER, timeout=1800)
        first = time.monotonic() - t0
        return first, _reset_and_time(dock, MULTI_USER)
    finally:
        dock.stop()


def boot_appliance(work: Path, image: Path, boot: dict[str, list[str]]) -> tuple[float, float, float]:
    key = work / "maint"
    pub = keygen(key)
    prov = work / "prov.img"
    provisioning_disk(prov, {
        # No vault in this benchmark: the station starts and keeps footage until a vault answers.
        "station.yaml": station_yaml(recipient=RECIPIENT, vault_host_key=HOST_KEY).encode(),
        "maintenance_authorized_keys": (pub + "\n").encode(),
    })
    dock = Dock(work=work / "appliance", image=image, extra_drives=[prov]).prepare()
    t0 = time.monotonic()
    dock.start()
    try:
        dock.wait_console(READY, timeout=1800)
        first = time.monotonic() - t0
        host_key = dock.wait_console(r"dock SSH host key: ([^\r\n]+)").group(1).strip()
        steady = _reset_and_time(dock, READY)
        known = work / "known_hosts"
        known.write_text(f"[127.0.0.1]:{dock.ssh_port} {host_key}\n")

        def rss_kib() -> int:
            out = dock.sh(key, known, "ps -o rss= -u bodydock,bodydock-kiosk").stdout.split()
            procs = dock.sh(key, known, "ps -o args= -u bodydock-kiosk").stdout
            # Wait until the kiosk itself runs under cage (not only the daemon).
            return sum(int(x) for x in out) if "bodydock kiosk" in procs.replace("cage -d -- ", "") else 0
        kib = wait_until("the station and the kiosk running", rss_kib, timeout=900, every=10)
        # Where the second boot's time went, from the guest's own accounting.
        def guest(command: str) -> list[str]:
            return dock.sh(key, known, command + " --no-pager", check=False).stdout.strip().splitlines()

        boot["time"] = guest("systemd-analyze time")
        boot["critical_chain"] = guest("systemd-analyze critical-chain bodydock.service")[2:]
        boot["blame_top"] = [" ".join(line.split()) for line in guest("systemd-analyze blame")[:12]]
        return first, steady, kib / 1024
    finally:
        dock.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, default=OUT / "bodydock-1.raw")
    a = ap.parse_args()
    info = json.loads(a.image.with_suffix(".json").read_text())
    allocated = int(subprocess.run(["du", "-B1", str(a.image)], capture_output=True, text=True,
                                   check=True).stdout.split()[0])
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        work = Path(tmp)
        plain_first, plain_steady = boot_plain(work)
        boot: dict[str, list[str]] = {}
        first, steady, rss_mb = boot_appliance(work, a.image, boot)
    result = {
        "image_mb": round(a.image.stat().st_size / 2**20, 1),
        "image_allocated_mb": round(allocated / 2**20, 1),
        "root_erofs_mb": round(info["root_bytes"] / 2**20, 1),
        "ratio_boot_vs_plain_debian": round(steady / plain_steady, 2),
        "boot_to_ready_s": round(steady, 1),
        "plain_debian_boot_s": round(plain_steady, 1),
        "first_boot_to_ready_s": round(first, 1),
        "plain_debian_first_boot_s": round(plain_first, 1),
        "appliance_rss_mb": round(rss_mb, 1),
        "appliance_boot": boot,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
