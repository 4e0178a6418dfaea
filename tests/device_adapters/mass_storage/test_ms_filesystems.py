"""The userspace FAT32/exFAT code against the reference implementations: mtools and exfat-fuse
read what it reads, fsck finds nothing to fix after its wipes, the kernel's read-only flag holds."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from _mass_storage_helpers import fsck, have, mtools_env

from device_adapters.api import AdapterError
from device_adapters.mass_storage import blockdev
from device_adapters.mass_storage.adapter import MassStorageAdapterFactory
from device_adapters.mass_storage.fs import open_volume
from device_adapters.mass_storage.images import MIB, make_exfat, make_fat32, tool

pytestmark = pytest.mark.skipif(not have("mkfs.vfat", "mkfs.exfat", "mcopy", "fsck.exfat"),
                                reason="dosfstools, exfatprogs and mtools are needed")

FILES = {
    "DCIM/100BODY/VID_0001.MP4": os.urandom(70_001),
    "DCIM/100BODY/Opname café 2.mp4": os.urandom(4097),
    "DCIM/101BODY/deep/er/VID_0003.MP4": b"",
    "DCIM/100BODY/exactly-one-cluster.mp4": os.urandom(512),
}


def _read_all(image: Path) -> dict[str, bytes]:
    a = MassStorageAdapterFactory()(str(image))
    out = {}
    for r in a.list_recordings():
        with a.open_recording(r) as s:
            out[r.key] = s.read()
    return out


def test_fat32_reader_agrees_with_mtools(tmp_path: Path) -> None:
    image = tmp_path / "c.img"
    make_fat32(image, FILES)
    ours = _read_all(image)
    assert ours == FILES
    listing = subprocess.run([tool("mdir"), "-i", str(image), "-/", "-b", "::/DCIM"], capture_output=True,
                             text=True, check=True, env=mtools_env()).stdout.splitlines()
    theirs = {p.removeprefix("::/") for p in listing if p.lower().endswith(".mp4")}
    assert theirs == set(FILES)


def test_fragmented_fat32_file_reads_back(tmp_path: Path) -> None:
    """A chain that is not in disk order (c -> c+2 -> c+1): data follows the chain, not the disk."""
    image = tmp_path / "frag.img"
    a, b, c = b"A" * 512, b"B" * 512, b"C" * 512
    make_fat32(image, {"DCIM/FRAG.MP4": a + b + c})
    vol = open_volume(str(image))
    dcim = next(e for e in vol.list_dir(vol.root(), 10).entries if e.name == "DCIM")
    entry = next(e for e in vol.list_dir(dcim, 10).entries if e.name == "FRAG.MP4")
    first = entry.first_cluster
    fat_at = vol.fat_offsets  # type: ignore[attr-defined]
    vol.device.close()
    data = bytearray(image.read_bytes())
    for base in fat_at:
        struct.pack_into("<III", data, base + first * 4, first + 2, 0x0FFFFFFF, first + 1)
    image.write_bytes(bytes(data))
    assert fsck(image).returncode == 0
    assert _read_all(image)["DCIM/FRAG.MP4"] == a + c + b


def _fuse_ready() -> str | None:
    if os.geteuid() != 0 or not Path("/dev/fuse").exists() or shutil.which("losetup") is None:
        return "needs root, /dev/fuse and losetup"
    try:
        tool("mount.exfat-fuse")
    except FileNotFoundError:
        return "exfat-fuse is not installed"
    return None


def test_exfat_reader_agrees_with_exfat_fuse(tmp_path: Path) -> None:
    if why := _fuse_ready():
        pytest.skip(why)
    image = tmp_path / "e.img"
    make_exfat(image, {})
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if loop.returncode != 0:
        pytest.skip(f"no loop device: {loop.stderr.strip()}")
    dev, mnt = loop.stdout.strip(), tmp_path / "mnt"
    mnt.mkdir()
    try:
        if subprocess.run([tool("mount.exfat-fuse"), dev, str(mnt)], capture_output=True).returncode != 0:
            pytest.skip("FUSE mount not permitted here")
        try:
            for rel, data in FILES.items():  # written by the reference driver ...
                (mnt / rel).parent.mkdir(parents=True, exist_ok=True)
                (mnt / rel).write_bytes(data)
        finally:
            subprocess.run(["fusermount", "-u", str(mnt)], check=True)
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)
    assert _read_all(image) == FILES  # ... read by ours
    # and the reverse: a card our writer made, read by the reference driver
    mine = tmp_path / "mine.img"
    make_exfat(mine, FILES)
    assert fsck(mine).returncode == 0
    attach = ["losetup", "-f", "--show", str(mine)]
    dev = subprocess.run(attach, capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run([tool("mount.exfat-fuse"), "-o", "ro", dev, str(mnt)], check=True, capture_output=True)
        try:
            assert {rel: (mnt / rel).read_bytes() for rel in FILES} == FILES
        finally:
            subprocess.run(["fusermount", "-u", str(mnt)], check=True)
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)


@pytest.mark.parametrize("fs", ["fat32", "exfat"])
@pytest.mark.parametrize("scrub", [False, True])
def test_wipe_verifies_and_leaves_a_clean_file_system(tmp_path: Path, fs: str, scrub: bool) -> None:
    image = tmp_path / "w.img"
    (make_fat32 if fs == "fat32" else make_exfat)(image, FILES)
    a = MassStorageAdapterFactory(scrub=scrub)(str(image))
    recs = {r.key: r for r in a.list_recordings()}
    free_before = a.storage.free_bytes()
    out = a.wipe([recs["DCIM/100BODY/VID_0001.MP4"], recs["DCIM/100BODY/Opname café 2.mp4"]])
    assert set(out.removed) == {"DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/Opname café 2.mp4"}
    assert "verified" in out.method and (out.free_bytes_after or 0) > (free_before or 0)
    left = _read_all(image)
    assert left == {k: v for k, v in FILES.items() if "VID_0001" not in k and "café" not in k}
    check = fsck(image)
    assert check.returncode == 0, check.stdout + check.stderr
    blob = image.read_bytes()
    assert (FILES["DCIM/100BODY/VID_0001.MP4"][:4096] in blob) is not scrub


def test_mbr_partitioned_card(tmp_path: Path) -> None:
    part = tmp_path / "p.img"
    make_fat32(part, FILES, size=40 * MIB)
    disk = tmp_path / "disk.img"
    mbr = bytearray(512)
    mbr[446 + 4] = 0x0C  # FAT32 LBA
    struct.pack_into("<II", mbr, 446 + 8, 2048, part.stat().st_size // 512)
    mbr[510:512] = b"\x55\xaa"
    with open(disk, "wb") as f:
        f.write(mbr + bytes(2048 * 512 - 512))
        f.write(part.read_bytes())
    assert _read_all(disk) == FILES


@pytest.mark.parametrize("fs", ["fat32", "exfat"])
def test_corrupt_boot_sector_is_a_clear_error(tmp_path: Path, fs: str) -> None:
    image = tmp_path / "bad.img"
    (make_fat32 if fs == "fat32" else make_exfat)(image, FILES)
    data = bytearray(image.read_bytes())
    if fs == "fat32":
        struct.pack_into("<H", data, 11, 1000)  # bytes per sector
    else:
        data[120] ^= 0xFF  # inside the checksummed boot region
    image.write_bytes(bytes(data))
    with pytest.raises(AdapterError, match="file system is unreadable"):
        MassStorageAdapterFactory()(str(image)).list_recordings()


def test_block_device_is_read_only_while_the_adapter_holds_it(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("needs root and losetup")
    image = tmp_path / "ro.img"
    make_exfat(image, FILES)
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if loop.returncode != 0:
        pytest.skip(f"no loop device: {loop.stderr.strip()}")
    dev = loop.stdout.strip()
    try:
        before = hashlib.sha256(image.read_bytes()).hexdigest()
        assert blockdev.get_read_only(dev) is False
        a = MassStorageAdapterFactory()(dev)
        recs = a.list_recordings()
        assert blockdev.get_read_only(dev) is True, "the kernel's read-only flag is set while offloading"
        fd = os.open(dev, os.O_WRONLY)
        try:
            with pytest.raises(OSError):  # EPERM: the kernel refuses writes to a read-only device
                os.pwrite(fd, b"x" * 512, 0)
        finally:
            os.close(fd)
        for r in recs:
            with a.open_recording(r) as s:
                s.read()
        assert hashlib.sha256(image.read_bytes()).hexdigest() == before
        a.wipe([r for r in recs if r.key.endswith("VID_0001.MP4")])  # lifted for the wipe only
        assert blockdev.get_read_only(dev) is True
        a.close()
        assert blockdev.get_read_only(dev) is False
    finally:
        blockdev.set_read_only(dev, False)  # the flag outlives the loop attachment otherwise
        subprocess.run(["losetup", "-d", dev], check=False)
    assert fsck(image).returncode == 0
