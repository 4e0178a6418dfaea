"""The whole-card account, one shared test over both storages and the same cards.

Each card is a real mkfs.vfat / mkfs.exfat image, then changed as a tampered card or broken
firmware would have it: DCIM as a file, a clip without extension, a recording whose clusters
are also the root directory, the exFAT allocation bitmap or up-case table, another file, a
directory or a 0-byte entry; a bitmap that marks a recording's cluster free; an exFAT chain
ending in 0xFFFFFFF8; a FAT32 root-cluster field pointing at an empty cluster; FAT copies that
differ. The block-device storage reads the image; the folder-backed storage reads the same card
mounted on a loop device (this kernel has no vfat/exfat driver: exFAT through exfat-fuse, FAT32
through fusefat, each naming the device as its source, so the folder storage also reads the card's
own account from the device; without fusefat, FAT32 falls back to an mtools extract, where only
the folder tree can be compared). Both must list the same recordings and report the same entries; a
finding leaves the card untouched; a clean card's wipe leaves fsck nothing to fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _mass_storage_helpers import WHEN, fsck, have, mtools_env, patch_exfat

from device_adapters.api import AdapterError
from device_adapters.mass_storage.adapter import MassStorageAdapter, MassStorageAdapterFactory
from device_adapters.mass_storage.fs import open_volume
from device_adapters.mass_storage.fs.base import Entry
from device_adapters.mass_storage.fs.exfat import ExfatVolume
from device_adapters.mass_storage.fs.fat32 import Fat32Volume
from device_adapters.mass_storage.images import add_fat32, make_exfat, make_fat32, tool

pytestmark = pytest.mark.skipif(not have("mkfs.vfat", "mkfs.exfat", "mcopy", "fsck.exfat"),
                                reason="dosfstools, exfatprogs and mtools are needed")

BASE = {
    "DCIM/100BODY/VID_0001.MP4": os.urandom(5000),
    "DCIM/100BODY/SMALL.MP4": b"s" * 100,
    "DCIM/100BODY/ZERO.MP4": b"",
    "MISC/FW.BIN": b"f" * 300,  # declared non-footage (firmware)
    "DCIM/100BODY/VID_0001.THM": b"t" * 50,  # declared (thumbnail)
}


def _entry(vol: Fat32Volume | ExfatVolume, path: str) -> Entry:
    e: Entry = vol.root()
    for part in path.split("/"):
        e = next(x for x in vol.list_dir(e, 10_000).entries if x.name == part)
    return e


def _first(image: Path, path: str) -> int:
    vol = open_volume(str(image))
    try:
        return _entry(vol, path).first_cluster  # type: ignore[arg-type]
    finally:
        vol.device.close()


def _point(image: Path, fs: str, path: str, cluster: int, size: int | None = None) -> None:
    """Make ``path``'s entry start at ``cluster`` (and claim ``size`` bytes), nothing else changed."""
    if fs == "exfat":
        def change(raw: bytearray) -> None:
            struct.pack_into("<I", raw, 32 + 20, cluster)
            if size is not None:
                struct.pack_into("<Q", raw, 32 + 8, size)
                struct.pack_into("<Q", raw, 32 + 24, size)
        patch_exfat(image, path, change)
        return
    vol = open_volume(str(image))
    slot = _entry(vol, path).slots[-1]  # type: ignore[arg-type]
    vol.device.close()
    with open(image, "r+b") as f:
        f.seek(slot + 20)
        f.write(struct.pack("<H", cluster >> 16))
        f.seek(slot + 26)
        f.write(struct.pack("<H", cluster & 0xFFFF))
        if size is not None:
            f.seek(slot + 28)
            f.write(struct.pack("<I", size))


def _meta(image: Path, what: str) -> int:
    vol = open_volume(str(image))
    try:
        assert isinstance(vol, ExfatVolume)
        if what == "root":
            return vol.root_cluster
        entry = vol.upcase_entry if what == "upcase" else vol.bitmap_entries[0]
        assert entry is not None
        return entry.first_cluster
    finally:
        vol.device.close()


def _root_cluster(image: Path) -> int:
    vol = open_volume(str(image))
    try:
        assert isinstance(vol, Fat32Volume)
        return vol.root_cluster
    finally:
        vol.device.close()


def _fat32_set(image: Path, cluster: int, value: int, copies: tuple[int, ...] = (0, 1)) -> None:
    vol = open_volume(str(image))
    assert isinstance(vol, Fat32Volume)
    offsets = vol.fat_offsets
    vol.device.close()
    with open(image, "r+b") as f:
        for i in copies:
            f.seek(offsets[i] + cluster * 4)
            f.write(struct.pack("<I", value))


def _free_cluster(image: Path) -> int:
    vol = open_volume(str(image))
    try:
        fat = vol.allocation()
        return next(c for c in range(vol.cluster_count, 2, -1) if not fat[c])
    finally:
        vol.device.close()


# --- the cards ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    name: str
    files: dict[str, bytes]
    change: Callable[[Path, str], None] | None  # (image, fs) -> tampered
    recordings: tuple[str, ...]  # what both storages must list
    findings: tuple[str, ...]  # (path substring, problem substring) pairs, flattened as "path|problem"
    fs: tuple[str, ...] = ("fat32", "exfat")
    tree_only: bool = False  # the change is in the folder tree, visible through any mount

    @property
    def clean(self) -> bool:
        return not self.findings


def _cross(target: Callable[[Path, str], int]) -> Callable[[Path, str], None]:
    def change(image: Path, fs: str) -> None:
        _point(image, fs, "DCIM/100BODY/SMALL.MP4", target(image, fs))
    return change


def _zero_into_recording(image: Path, fs: str) -> None:
    _point(image, fs, "DCIM/100BODY/ZERO.MP4", _first(image, "DCIM/100BODY/VID_0001.MP4"))


def _bitmap_free(image: Path, fs: str) -> None:
    vol = open_volume(str(image), writable=True)
    try:
        assert isinstance(vol, ExfatVolume)
        vol.set_bits([_entry(vol, "DCIM/100BODY/SMALL.MP4").first_cluster], False)
        vol.device.sync()
    finally:
        vol.device.close()


def _exfat_bad_end(image: Path, fs: str) -> None:
    first = _first(image, "DCIM/100BODY/SMALL.MP4")

    def chained(raw: bytearray) -> None:
        raw[32 + 1] &= ~0x02  # NoFatChain off: the FAT now decides where the clip ends

    patch_exfat(image, "DCIM/100BODY/SMALL.MP4", chained)
    vol = open_volume(str(image))
    assert isinstance(vol, ExfatVolume)
    at = vol.fat_offset + first * 4
    vol.device.close()
    with open(image, "r+b") as f:
        f.seek(at)
        f.write(struct.pack("<I", 0xFFFFFFF8))


def _root_moved(image: Path, fs: str) -> None:
    """The FAT32 root-cluster field now names an empty, allocated cluster: the card looks empty."""
    c = _free_cluster(image)
    _fat32_set(image, c, 0x0FFFFFFF)
    with open(image, "r+b") as f:
        f.seek(44)
        f.write(struct.pack("<I", c))


def _fat_copies_differ(image: Path, fs: str) -> None:
    _fat32_set(image, _free_cluster(image), 0x0FFFFFFF, copies=(1,))


def _mirroring_off_fat1_active(image: Path, fs: str) -> None:
    with open(image, "r+b") as f:
        for boot in (0, 6 * 512):  # the boot sector and its backup (mkfs.vfat puts it at sector 6)
            f.seek(boot + 40)
            f.write(struct.pack("<H", 0x81))


def _bad_lfn_checksum(image: Path, fs: str) -> None:
    """Every long-name slot of the clip gets a checksum that matches no 8.3 name: readers offer
    the 8.3 name, and the long-name slots are orphans that must go when the clip is wiped."""
    vol = open_volume(str(image))
    entry = _entry(vol, "DCIM/100BODY")  # type: ignore[arg-type]
    offs = [off for off, slot in vol.iter_dir_bytes(entry, 1 << 16) if slot[11] == 0x0F and slot[0] != 0xE5]
    vol.device.close()
    with open(image, "r+b") as f:
        for off in offs:
            f.seek(off + 13)
            f.write(bytes([0x5A]))


LAYOUTS = [
    Layout("clean-with-declared-files", {**BASE, "MISC/LOGS/CAM.LOG": b"log", "EMPTYDIR/.keep.txt": b""}, None,
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/SMALL.MP4", "DCIM/100BODY/ZERO.MP4"), (), tree_only=True),
    Layout("dcim-is-a-file", {"DCIM": b"not a folder", "VIDEO/CLIP0001.MP4": os.urandom(3000)}, None, (),
           ("DCIM|is a file", "VIDEO/CLIP0001.MP4|outside DCIM"), tree_only=True),
    Layout("extensionless-clip-in-dcim", {**BASE, "DCIM/100BODY/VID_0002": os.urandom(4000)}, None,
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/SMALL.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("DCIM/100BODY/VID_0002|no extension",), tree_only=True),
    Layout("zero-byte-entry-outside-dcim", {**BASE, "NOTES": b""}, None,
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/SMALL.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("NOTES|nor declared",), tree_only=True),
    Layout("recording-into-root-directory", BASE,
           _cross(lambda img, fs: _meta(img, "root") if fs == "exfat" else _root_cluster(img)),
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("DCIM/100BODY/SMALL.MP4|(root directory) (cross-linked)",)),
    Layout("recording-into-allocation-bitmap", BASE, _cross(lambda img, fs: _meta(img, "bitmap")),
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("DCIM/100BODY/SMALL.MP4|(allocation bitmap 0) (cross-linked)",), fs=("exfat",)),
    Layout("recording-into-up-case-table", BASE, _cross(lambda img, fs: _meta(img, "upcase")),
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("DCIM/100BODY/SMALL.MP4|(up-case table) (cross-linked)",), fs=("exfat",)),
    Layout("recording-into-declared-file", BASE, _cross(lambda img, fs: _first(img, "MISC/FW.BIN")),
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("DCIM/100BODY/SMALL.MP4|MISC/FW.BIN (cross-linked)", "MISC/FW.BIN|cross-linked")),
    Layout("recording-into-directory", BASE, _cross(lambda img, fs: _first(img, "MISC")),
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("DCIM/100BODY/SMALL.MP4|MISC/ (cross-linked)",)),
    Layout("zero-byte-entry-into-recording", BASE, _zero_into_recording,
           ("DCIM/100BODY/SMALL.MP4",), ("DCIM/100BODY/ZERO.MP4|0-byte", "DCIM/100BODY/VID_0001.MP4|cross-linked")),
    Layout("bitmap-marks-recording-free", BASE, _bitmap_free,
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/SMALL.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("DCIM/100BODY/SMALL.MP4|marks free",), fs=("exfat",)),
    Layout("exfat-chain-ends-in-fffffff8", BASE, _exfat_bad_end,
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("DCIM/100BODY/SMALL.MP4|undefined link 0xFFFFFFF8",), fs=("exfat",)),
    Layout("fat32-root-cluster-field-changed", BASE, _root_moved, (), ("(card)|belong to no file",), fs=("fat32",)),
    Layout("fat32-copies-differ", BASE, _fat_copies_differ,
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/SMALL.MP4", "DCIM/100BODY/ZERO.MP4"),
           ("(card)|FAT copy 1 differs",), fs=("fat32",)),
    Layout("fat32-mirroring-off-fat1-active", BASE, _mirroring_off_fat1_active,
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/SMALL.MP4", "DCIM/100BODY/ZERO.MP4"), (), fs=("fat32",)),
    Layout("fat32-long-name-checksum-broken", {**BASE, "DCIM/100BODY/A long clip name.mp4": os.urandom(700)},
           _bad_lfn_checksum,
           ("DCIM/100BODY/VID_0001.MP4", "DCIM/100BODY/SMALL.MP4", "DCIM/100BODY/ZERO.MP4",
            "DCIM/100BODY/ALONGC~1.MP4"), (), fs=("fat32",)),
]
CASES = [pytest.param(fs, lay, id=f"{fs}-{lay.name}") for lay in LAYOUTS for fs in lay.fs]


def _build(tmp: Path, fs: str, layout: Layout) -> Path:
    image = tmp / f"{layout.name}.{fs}.img"
    if fs == "fat32":
        # No volume label: fusefat (the FAT32 mount here) lists a label entry as a 0-byte file.
        make_fat32(image, {}, when=WHEN, label=None)
        add_fat32(image, layout.files, when=WHEN)
    else:
        make_exfat(image, layout.files, when=WHEN)
    if layout.change is not None:
        layout.change(image, fs)
    return image


def _sha(image: Path) -> str:
    return hashlib.sha256(image.read_bytes()).hexdigest()


def _fuse_ready(driver: str) -> str | None:
    if os.geteuid() != 0 or not Path("/dev/fuse").exists() or shutil.which("losetup") is None:
        return "needs root, /dev/fuse and losetup"
    try:
        tool(driver)
    except FileNotFoundError:
        return f"{driver} is not installed"
    return None


@contextlib.contextmanager
def _mounted(image: Path, fs: str, layout: Layout, tmp: Path) -> Iterator[Path | None]:
    """The card as a folder another driver made of it; None when no such view can be made here."""
    mnt = tmp / f"view-{fs}-{layout.name}"
    mnt.mkdir()
    if fs == "fat32" and _fuse_ready("fusefat") is not None:
        if not layout.tree_only:
            yield None  # an extracted copy is a new file system; only a mount would show the card's clusters
            return
        subprocess.run([tool("mcopy"), "-s", "-m", "-i", str(image), "::*", str(mnt)], check=True,
                       env=mtools_env(), capture_output=True)
        yield mnt
        return
    if _fuse_ready("fusefat" if fs == "fat32" else "mount.exfat-fuse") is not None:
        yield None
        return
    loop = subprocess.run(["losetup", "-f", "--show", "-r", str(image)], capture_output=True, text=True)
    if loop.returncode != 0:
        yield None
        return
    dev = loop.stdout.strip()
    try:
        # fusefat names the loop device as the mount's source (fsname), as a kernel mount would, so the
        # folder storage finds the card behind it and reads the card's own account too.
        driver = ([tool("fusefat"), "-o", f"ro,fsname={dev}"] if fs == "fat32"
                  else [tool("mount.exfat-fuse"), "-o", "ro"])
        mounted = subprocess.run([*driver, dev, str(mnt)], capture_output=True)
        if mounted.returncode != 0:
            yield None
            return
        try:
            yield mnt
        finally:
            subprocess.run(["fusermount", "-u", str(mnt)], check=True)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def _judge(adapter: MassStorageAdapter) -> tuple[list[str], dict[str, str]]:
    recs = sorted(r.key for r in adapter.list_recordings())
    found: dict[str, str] = {}
    for f in adapter.findings():
        found[f.path] = (found.get(f.path, "") + " / " + f.problem).strip(" /")
    return recs, found


@pytest.mark.parametrize(("fs", "layout"), CASES)
def test_both_storages_account_for_the_whole_card(tmp_path: Path, fs: str, layout: Layout) -> None:
    image = _build(tmp_path, fs, layout)
    before = _sha(image)
    card = MassStorageAdapterFactory()(str(image))
    recs, found = _judge(card)
    assert recs == sorted(layout.recordings), found
    for want in layout.findings:
        path, problem = want.split("|", 1)
        assert path in found and problem in found[path], f"{want!r} not reported; findings: {found}"
    if not layout.clean:
        with pytest.raises(AdapterError, match="refusing to wipe"):
            card.wipe(card.list_recordings())
        assert _sha(image) == before, "a card with findings must be left untouched"
    else:
        assert not found, found

    with _mounted(image, fs, layout, tmp_path) as view:
        if view is not None:
            folder = MassStorageAdapterFactory()(str(view))
            f_recs, f_found = _judge(folder)
            what = f"folder view {f_recs, f_found} disagrees with the card {recs, found}"
            if any("through the mount" in p for p in f_found.values()):
                # The mounting driver itself cannot read part of the card: the folder view may
                # list less, never more, and reports everything the card does.
                assert set(f_recs) <= set(recs) and set(f_found) >= set(found), what
            else:
                assert f_recs == recs and set(f_found) == set(found), what
            if not layout.clean:
                with pytest.raises(AdapterError, match="refusing to wipe"):
                    folder.wipe(folder.list_recordings())
    assert _sha(image) == before

    if layout.clean:
        kept = {k: v for k, v in layout.files.items() if not k.lower().endswith(".mp4")}
        out = card.wipe(card.list_recordings())
        assert sorted(out.removed) == recs
        assert card.list_recordings() == () and not card.findings()
        check = fsck(image)
        assert check.returncode == 0, check.stdout + check.stderr
        vol = open_volume(str(image))
        try:
            for path, data in kept.items():  # declared non-footage stays, byte for byte
                e = _entry(vol, path)  # type: ignore[arg-type]
                assert vol.read_runs(vol.runs(e), 0, e.size) == data, f"{path} changed by the wipe"
            if isinstance(vol, Fat32Volume):
                copies = {vol.device.pread(o, vol.fat_size) for o in vol.fat_offsets}
                assert len(copies) == 1, "every FAT copy must say the same after the wipe"
        finally:
            vol.device.close()
