"""The appliance image, booted in qemu (TCG) with OVMF and swtpm: a dock from flashing to rollback.

One dock for the whole module, in order: first boot and provisioning, READY; the read-only root
and the TPM-unlocked /data; a FAT32 camera hot-plugged on the xHCI bus through QMP, offloaded to
a real OpenSSH SFTP vault on the host's loopback and wiped; the kiosk under cage (screendump);
an update to a new version that keeps /data; a broken update that rolls back by itself.

Run by ``make image-test`` only (see conftest.py). The waits are long because TCG on a shared
2-core machine is slow; each one fails loudly with the console's tail when the dock never gets there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.image_build.lab import Dock, LabError, wait_until
from tests.image_build.provisioning import STATION_ID, provisioning_disk, station_yaml
from tests.upload.lab.sshd import SftpServer, keygen, make_server, remove_server

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "image_build" / "out"
SCREENSHOT = ROOT / "docs" / "screenshots" / "appliance-kiosk.png"
IMAGE_VERSION, UPDATE_VERSION, BROKEN_VERSION = "1", "2", "3"
CARD_PORT = 1  # xHCI root port 1: the dock's slot 1 (usb_ports 1-1 / 2-1)
VENV = "/opt/bodydock/venv/bin"
# The kiosk's own view of the station, read on the dock through the local API socket.
KIOSK_SNAPSHOT = ("import httpx; t = httpx.HTTPTransport(uds='/data/bodydock/api.sock'); "
                  "print(httpx.Client(transport=t, timeout=120).get('http://dock/api/kiosk/snapshot').text)")


@dataclass
class Lab:
    dock: Dock
    vault: SftpServer
    identity: Path  # the vault's age identity: the test plays the municipality's evidence administrator
    maint_key: Path
    known_hosts: Path
    work: Path
    started: float
    ready_s: float = 0.0
    fingerprint: str = ""

    def sh(self, command: str, **kw: object) -> str:
        return self.dock.sh(self.maint_key, self.known_hosts, command, **kw).stdout  # type: ignore[arg-type]


def _artifact(name: str) -> Path:
    path = OUT / name
    if not path.exists():
        raise LabError(f"{path} is missing: `make image` builds it")
    return path


def _console_field(dock: Dock, label: str, after: int) -> str:
    m = dock.wait_console(rf"bodydock-provision: {label}: ([^\r\n]+)", after=after, timeout=1800,
                          fail=r"Kernel panic|bodydock-data: no TPM2")
    return m.group(1).strip()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    image = _artifact(f"bodydock-{IMAGE_VERSION}.raw")
    # All three from one `make image` run, so they come from the same commit and the same tree.
    bundles = [_artifact(f"bodydock-{UPDATE_VERSION}.raucb"), _artifact(f"bodydock-{BROKEN_VERSION}-broken.raucb")]
    work = tmp_path_factory.mktemp("dock")
    vault = make_server(prefix="image-vault-")
    vault.start()
    try:
        identity = work / "vault-identity.txt"
        subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
        recipient = next(line.split(": ", 1)[1].strip() for line in identity.read_text().splitlines()
                         if line.startswith("# public key"))
        maint_key = work / "maint_ed25519"
        maint_pub = keygen(maint_key)
        prov = work / "provision.img"
        provisioning_disk(prov, {
            "station.yaml": station_yaml(recipient=recipient, vault_host_key=vault.host_key_pub).encode(),
            "maintenance_authorized_keys": (maint_pub + " test-maintenance\n").encode(),
        })
        # The update stick: an ext4 file system made straight from a folder (mkfs.ext4 -d), read-only.
        updates = work / "updates"
        updates.mkdir()
        for b in bundles:
            os.link(b, updates / b.name)
        stick = work / "updates.img"
        size = sum(b.stat().st_size for b in bundles) + (64 << 20)
        with stick.open("wb") as fh:
            fh.truncate(size)
        subprocess.run(["mkfs.ext4", "-q", "-L", "BDUPDATE", "-d", str(updates), str(stick)], check=True)
        dock = Dock(work=work / "vm", image=image, vault_port=vault.port, extra_drives=[prov, stick]).prepare()
        started = time.monotonic()
        dock.start()
        try:
            vault_key = _console_field(dock, "vault SSH client key", 0)
            # The vault administrator registers the dock's SSH key (made on the dock, printed on the console).
            (vault.base / "authorized_keys").write_text(vault_key + "\n")
            host_key = _console_field(dock, "dock SSH host key", 0)
            known_hosts = work / "known_hosts"
            known_hosts.write_text(f"[127.0.0.1]:{dock.ssh_port} {host_key}\n")
            lab = Lab(dock=dock, vault=vault, identity=identity, maint_key=maint_key, known_hosts=known_hosts,
                      work=work, started=started)
            yield lab
        finally:
            dock.stop()
            print(f"\nimage test: dock work folder {work}; console {dock.serial}")
    finally:
        remove_server(vault)


def _ready(lab: Lab, version: str) -> None:
    """bodydock.service active (Type=notify: READY=1 was sent) on the expected image version."""
    def probe() -> bool:
        out = lab.sh("systemctl show -P ActiveState bodydock.service; cat /usr/lib/bodydock/image-version",
                     check=False, timeout=120)
        return out.split() == ["active", version]
    wait_until(f"bodydock READY on image version {version}", probe, timeout=1800, every=5)


def test_first_boot_reaches_ready(lab: Lab) -> None:
    _ready(lab, IMAGE_VERSION)
    lab.ready_s = time.monotonic() - lab.started
    status = lab.sh("systemctl show -P StatusText bodydock.service")
    assert f"station {STATION_ID} running" in status
    fp = lab.dock.wait_console(r"station signing key fingerprint: ([0-9a-f ]{39})").group(1)
    identity = lab.sh(f"{VENV}/bodydock identity --signing-key /data/keys/station-signing.key")
    assert fp in identity
    # The vault administrator pins the public key itself, read off the console (no SSH needed).
    public = lab.dock.wait_console(r"station signing public key: (ed25519:\S+)").group(1)
    assert f"public key: {public}" in identity
    lab.fingerprint = fp
    lab.dock.wait_console(r"bodydock-health: healthy: slot bodydock-a \(version 1\) marked good", timeout=1800)
    print(f"\nimage test: first boot to READY in {lab.ready_s:.0f} s (TCG)")


def test_root_is_read_only_and_data_is_luks2_unlocked_by_the_tpm(lab: Lab) -> None:
    root = lab.sh("findmnt -no SOURCE,FSTYPE,OPTIONS /").split()
    assert root[0] == "/dev/mapper/root" and root[1] == "erofs" and root[2].startswith("ro"), root
    assert "verified" in lab.sh("veritysetup status root")  # dm-verity over the root partition
    write = lab.sh("touch /usr/probe 2>&1; echo rc=$?", check=False)
    assert "Read-only file system" in write and "rc=1" in write
    assert lab.sh("findmnt -no SOURCE,FSTYPE /data").split() == ["/dev/mapper/data", "ext4"]
    assert "type:    LUKS2" in lab.sh("cryptsetup status data")
    dump = lab.sh("cryptsetup luksDump /dev/disk/by-partlabel/bd-data")
    assert "systemd-tpm2" in dump
    keyslots = [line for line in dump.split("Keyslots:")[1].split("Tokens:")[0].splitlines()
                if line.strip().endswith(": luks2")]
    assert len(keyslots) == 1, f"only the TPM2 keyslot may open /data: {keyslots}"
    # Nothing secret came with the image: the keys were made on this dock, under /data.
    assert lab.sh("stat -c %U:%a /data/keys/station-signing.key").strip() == "bodydock:600"
    assert lab.sh("ls /etc/ssh/ | grep -c ssh_host_ || true").strip() == "0"


def test_kiosk_runs_under_cage_as_its_own_user(lab: Lab) -> None:
    assert lab.sh("systemctl is-active bodydock-kiosk.service").strip() == "active"
    procs = lab.sh("ps -eo user:20,args")
    assert any(line.startswith("bodydock-kiosk") and "/usr/bin/cage" in line for line in procs.splitlines()), procs
    assert any(line.startswith("bodydock-kiosk") and "bodydock kiosk" in line and "cage" not in line
               for line in procs.splitlines()), procs
    qmp = lab.dock.qmp
    assert qmp is not None
    shot = lab.work / "kiosk.png"

    def drawn() -> bool:
        qmp.execute("screendump", filename=str(shot), format="png")
        return shot.exists() and shot.stat().st_size > 20_000  # a blank or text console is a few KiB
    wait_until("the kiosk on the screen", drawn, timeout=900, every=10)
    # First boot, nothing in the vault yet: the kiosk shows the signing key's fingerprint (the same
    # one the console printed) for registering the dock at the vault; the screendump shows it too.
    station = json.loads(lab.sh(f"{VENV}/python -c {KIOSK_SNAPSHOT!r}"))["station"]
    assert station["key_fingerprint"] == lab.fingerprint and station["vault_received"] is False, station
    time.sleep(5)  # one more redraw after the snapshot the kiosk polls
    qmp.execute("screendump", filename=str(shot), format="png")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOT)
    print(f"\nimage test: kiosk screendump at {time.monotonic() - lab.started:.0f} s -> {SCREENSHOT}")


def _card(path: Path) -> dict[str, str]:
    """A FAT32 camera card (mkfs.vfat + mtools) with two recordings; returns name -> SHA-256."""
    from device_adapters.mass_storage.images import MIB, make_fat32

    clip = path.with_suffix(".mp4")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=2:size=160x120:rate=10", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)],
                   check=True)
    files = {"DCIM/100BODY/VID_0001.MP4": clip.read_bytes(), "DCIM/100BODY/VID_0002.MP4": os.urandom(3 * MIB)}
    make_fat32(path, files, size=64 * MIB, when=datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    return {name.rsplit("/", 1)[1]: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def _vault_payloads(vault: SftpServer) -> list[Path]:
    return sorted(p for p in (vault.vault / STATION_ID).rglob("*.age") if "/audit/" not in str(p))


def test_hot_plugged_camera_is_offloaded_to_the_sftp_vault_and_wiped(lab: Lab) -> None:
    card = lab.work / "card.img"
    expected = _card(card)
    qmp = lab.dock.qmp
    assert qmp is not None
    qmp.execute("blockdev-add", **{"driver": "raw", "node-name": "cam0",
                                   "file": {"driver": "file", "filename": str(card)}})
    qmp.execute("device_add", driver="usb-storage", bus="xhci.0", port=str(CARD_PORT), drive="cam0", id="cam0")
    def delivered() -> bool:
        payloads = _vault_payloads(lab.vault)
        manifests = [p.with_name(p.name.split(".")[0] + ".manifest.json") for p in payloads]
        return len(payloads) == 2 and all(m.exists() for m in manifests)
    wait_until("both recordings and their manifests in the vault", delivered, timeout=1800, every=5)

    def slot_ready() -> bool:
        rows = json.loads(lab.sh("/opt/bodydock/venv/bin/bodydock slots --json --config /data/config/station.yaml"))
        return any(r["id"] == 1 and r["state"] == "ready" for r in rows)
    wait_until("slot 1 ready (camera wiped)", slot_ready, timeout=1800, every=5)
    qmp.execute("device_del", id="cam0")
    qmp.wait_event("DEVICE_DELETED", timeout=300)
    qmp.execute("blockdev-del", **{"node-name": "cam0"})

    # The vault side, independently of the station: decrypt with age, hash, compare.
    got = []
    for payload in _vault_payloads(lab.vault):
        plain = subprocess.run(["age", "-d", "-i", str(lab.identity), str(payload)], check=True,
                               capture_output=True).stdout
        got.append(hashlib.sha256(plain).hexdigest())
    assert sorted(got) == sorted(expected.values())
    fsck = subprocess.run(["fsck.vfat", "-n", str(card)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    listing = subprocess.run(["mdir", "-/", "-b", "-i", str(card), "::"], capture_output=True, text=True,
                             env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout
    assert not [line for line in listing.splitlines() if line.upper().endswith(".MP4")], listing


def _install(lab: Lab, bundle: str) -> int:
    """Install a bundle from the update stick; return the console offset before the reboot."""
    lab.sh("mkdir -p /run/bdupdate && (mountpoint -q /run/bdupdate || mount -o ro LABEL=BDUPDATE /run/bdupdate)")
    lab.sh(f"rauc install /run/bdupdate/{bundle}", timeout=1800)
    offset = len(lab.dock.console())
    lab.sh("systemctl reboot", check=False, timeout=60)
    return offset


def test_update_to_a_new_version_keeps_data(lab: Lab) -> None:
    lab.sh("echo kept > /data/bodydock/update-marker")
    recordings_before = lab.sh("ls /data/bodydock/journal.sqlite && /opt/bodydock/venv/bin/bodydock audit verify "
                               "--config /data/config/station.yaml")
    offset = _install(lab, f"bodydock-{UPDATE_VERSION}.raucb")
    lab.dock.wait_console(r"bodydock-health: slot bodydock-b, image version 2, trial boot: yes", after=offset,
                          timeout=1800)
    lab.dock.wait_console(r"healthy: slot bodydock-b \(version 2\) marked good", after=offset, timeout=1800)
    _ready(lab, UPDATE_VERSION)
    assert lab.sh("cat /data/bodydock/update-marker").strip() == "kept"
    assert "chain intact" in recordings_before
    assert "chain intact" in lab.sh("/opt/bodydock/venv/bin/bodydock audit verify --config /data/config/station.yaml")
    status = json.loads(lab.sh("rauc status --output-format=json"))
    assert status["booted"] == "bodydock-b", status


def test_a_failing_update_rolls_back_by_itself(lab: Lab) -> None:
    old_slot = json.loads(lab.sh("rauc status --output-format=json"))["booted"]
    new_slot = {"bodydock-a": "bodydock-b", "bodydock-b": "bodydock-a"}[old_slot]
    old_version = lab.sh("cat /usr/lib/bodydock/image-version").strip()
    lab.sh("echo kept > /data/bodydock/rollback-marker")
    offset = _install(lab, f"bodydock-{BROKEN_VERSION}-broken.raucb")
    lab.dock.wait_console(rf"bodydock-health: slot {new_slot}, image version {BROKEN_VERSION}, trial boot: yes",
                          after=offset, timeout=1800)
    lab.dock.wait_console(rf"health check FAILED on trial boot of {new_slot}", after=offset, timeout=1800)
    lab.dock.wait_console(rf"bodydock-health: slot {old_slot}, image version {old_version}, trial boot: no",
                          after=offset, timeout=1800)
    _ready(lab, old_version)
    assert lab.sh("cat /data/bodydock/rollback-marker").strip() == "kept"
    status = json.loads(lab.sh("rauc status --output-format=json"))
    assert status["booted"] == old_slot, status
    total = time.monotonic() - lab.started
    print(f"\nimage test: whole dock life in qemu {total / 60:.1f} min")
