"""Hostile camera cards for the mass-storage tests: real mkfs images, then crafted entries.

What mtools refuses to create (``../`` names, broken UTF-16, non-ASCII 8.3 names, directory
loops, impossible sizes) is patched into the directory entries afterwards, as a tampered card
or buggy firmware would have it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from device_adapters.mass_storage.fs import open_volume
from device_adapters.mass_storage.fs.base import ATTR_SYSTEM, Entry
from device_adapters.mass_storage.fs.exfat import ExfatVolume, set_checksum
from device_adapters.mass_storage.images import MIB, add_exfat, add_fat32, make_exfat, make_fat32, tool

WHEN = datetime(2026, 5, 4, 7, 30, 0, tzinfo=UTC)
LINK = b"!<symlink>\xff\xfe.\x00.\x00/\x00.\x00.\x00/\x00e\x00t\x00c\x00\x00\x00"


def mtools_env() -> dict[str, str]:
    return {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def mp4_clip(tmp: Path) -> bytes:
    """A real, short MP4 (ffmpeg is a test dependency anyway)."""
    out = tmp / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=1:size=96x64:rate=10",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)],
        check=True, capture_output=True,
    )
    return out.read_bytes()


@dataclass(frozen=True)
class Card:
    image: Path
    fs: str
    good: dict[str, bytes]  # key -> bytes of every recording that must be offloaded
    hostile: tuple[str, ...]  # substrings of the finding paths the adapter must report

    def sha256(self) -> str:
        h = hashlib.sha256()
        with open(self.image, "rb") as f:
            while b := f.read(1 << 20):
                h.update(b)
        return h.hexdigest()


def good_files(clip: bytes) -> dict[str, bytes]:
    return {
        "DCIM/100BODY/VID_0001.MP4": os.urandom(300_000),
        "DCIM/100BODY/A long name, recording 2.mp4": clip,
        "DCIM/100BODY/EMPTY.MP4": b"",  # 0 bytes: offloaded as what it is
        "DCIM/100BODY/TRUNC.MP4": clip[: len(clip) // 2],  # cut off: bytes are evidence, kept as-is
    }


def _patch_once(image: Path, old: bytes, new: bytes) -> int:
    data = bytearray(image.read_bytes())
    assert data.count(old) == 1, f"{old!r} found {data.count(old)} times"
    at = data.index(old)
    data[at : at + len(new)] = new
    image.write_bytes(bytes(data))
    return at


def _u16(s: str) -> bytes:
    return s.encode("utf-16-le")


def spam_fat32(image: Path, total: int) -> None:
    """``total`` one-byte files in DCIM/SPAM/Gxx/Dyyy/: a tenth staged once, copied ten times."""
    with tempfile.TemporaryDirectory() as tmp:
        group = Path(tmp) / "G"
        for d in range(10):
            sub = group / f"D{d:03d}"
            sub.mkdir(parents=True)
            for i in range(total // 100):
                (sub / f"F{i:05d}.DAT").write_bytes(b"x")
        env = mtools_env()
        subprocess.run([tool("mmd"), "-i", str(image), "::/DCIM/SPAM"], check=True, env=env, capture_output=True)
        for g in range(10):
            target = Path(tmp) / f"G{g:02d}"
            group.rename(target)
            subprocess.run([tool("mcopy"), "-s", "-i", str(image), str(target), "::/DCIM/SPAM/"], check=True,
                           env=env, capture_output=True)
            target.rename(group)


def hostile_fat32(tmp: Path, clip: bytes, *, spam: int = 0) -> Card:
    image = tmp / "hostile-fat32.img"
    good = good_files(clip)
    make_fat32(image, good, size=(160 if spam else 48) * MIB, when=WHEN)
    add_fat32(image, {
        "DCIM/100BODY/QQQevil.mp4": b"escape attempt",
        "DCIM/100BODY/QQbadutf16.mp4": b"broken name",
        "DCIM/100BODY/NONUTF.MP4": b"latin-1 name",
        "DCIM/100BODY/LINK.MP4": LINK,
        "DCIM/100BODY/BIG.MP4": b"b" * 1000,
        "DCIM/100BODY/LOOPDIR/KEEP.TXT": b"k",
    }, when=WHEN)
    env = mtools_env()
    subprocess.run([tool("mattrib"), "-i", str(image), "+s", "::/DCIM/100BODY/LINK.MP4"], check=True, env=env,
                   capture_output=True)
    # "QQQevil.mp4" -> "../evil.mp4" and "QQbadutf16" -> lone surrogate: LFN checksums cover
    # the short name only, so the patched long names stay valid FAT.
    _patch_once(image, _u16("QQQe"), _u16("../e"))
    _patch_once(image, _u16("QQba"), b"\x00\xd8" + _u16("Xba"))
    _patch_once(image, b"NONUTF  MP4", b"NON\xe9TF  MP4")
    data = bytearray(image.read_bytes())
    # BIG.MP4 claims 4 GiB - 16 bytes; its chain is one cluster.
    big = data.index(b"BIG     MP4")
    struct.pack_into("<I", data, big + 28, 0xFFFFFFF0)
    # LOOPDIR points back at DCIM: a directory loop, FAT's way of making a link.
    dcim = data.index(b"DCIM       \x10")
    hi, lo = struct.unpack_from("<H", data, dcim + 20)[0], struct.unpack_from("<H", data, dcim + 26)[0]
    loop = data.index(b"LOOPDIR    \x10")
    struct.pack_into("<H", data, loop + 20, hi)
    struct.pack_into("<H", data, loop + 26, lo)
    image.write_bytes(bytes(data))
    hostile = ["../evil.mp4", "\\ud800Xbadutf16", "NON\\xe9TF", "LINK.MP4", "BIG.MP4", "LOOPDIR"]
    if spam:
        spam_fat32(image, spam)
        hostile.append("DCIM/SPAM")
    return Card(image, "fat32", {k: v for k, v in good.items()}, tuple(hostile))


def patch_exfat(image: Path, path: str, change: Callable[[bytearray], None]) -> None:
    """Rewrite one file's entry set (checksum recomputed, as a tampering tool would)."""
    vol = open_volume(str(image), writable=True)
    try:
        assert isinstance(vol, ExfatVolume)
        entry: Entry = vol.root()
        for part in path.split("/"):
            entry = next(e for e in vol.list_dir(entry, 1_000_000).entries if e.name == part)
        raw = bytearray(b"".join(vol.device.pread(o, 32) for o in entry.slots))
        change(raw)
        struct.pack_into("<H", raw, 2, set_checksum(bytes(raw)))
        for i, off in enumerate(entry.slots):
            vol.device.pwrite(off, bytes(raw[i * 32 : i * 32 + 32]))
        vol.device.sync()
    finally:
        vol.device.close()


def hostile_exfat(tmp: Path, clip: bytes, *, spam: int = 0) -> Card:
    image = tmp / "hostile-exfat.img"
    good = good_files(clip)
    make_exfat(image, good, size=(160 if spam else 48) * MIB, when=WHEN, cluster=512 if spam else 4096)
    add_exfat(image, {
        "DCIM/100BODY/QQQevil.mp4": b"escape attempt",
        "DCIM/100BODY/bad\udc80name.mp4": b"broken name",
        "DCIM/100BODY/ctl\x07bell.mp4": b"control character",
        "DCIM/100BODY/BIG.MP4": b"b" * 1000,
        "DCIM/100BODY/LOOPDIR/KEEP.TXT": b"k",
    }, when=WHEN)
    add_exfat(image, {"DCIM/100BODY/LINK.MP4": LINK}, when=WHEN, attributes=ATTR_SYSTEM)
    vol = open_volume(str(image))
    dcim = next(e for e in vol.list_dir(vol.root(), 100).entries if e.name == "DCIM")
    vol.device.close()

    def big(raw: bytearray) -> None:
        struct.pack_into("<Q", raw, 32 + 24, 1 << 40)  # 1 TiB on a 48 MiB card
        struct.pack_into("<Q", raw, 32 + 8, 1 << 40)

    def loop(raw: bytearray) -> None:
        struct.pack_into("<I", raw, 32 + 20, dcim.first_cluster)
        struct.pack_into("<Q", raw, 32 + 24, 4096)
        struct.pack_into("<Q", raw, 32 + 8, 4096)

    def traversal(raw: bytearray) -> None:
        at = raw.index(_u16("QQQ"))
        raw[at : at + 6] = _u16("../")

    patch_exfat(image, "DCIM/100BODY/QQQevil.mp4", traversal)
    patch_exfat(image, "DCIM/100BODY/BIG.MP4", big)
    patch_exfat(image, "DCIM/100BODY/LOOPDIR", loop)
    hostile = ["../evil.mp4", "bad\\udc80name", "ctl\\u0007bell", "LINK.MP4", "BIG.MP4", "LOOPDIR"]
    if spam:
        add_exfat(image, {f"DCIM/SPAM/D{d:03d}/F{i:05d}.DAT": b"x" for d in range(spam // 1000) for i in range(1000)})
        hostile.append("DCIM/SPAM")
    return Card(image, "exfat", dict(good), tuple(hostile))


def fsck(card_or_image: Card | Path) -> subprocess.CompletedProcess[str]:
    image = card_or_image.image if isinstance(card_or_image, Card) else card_or_image
    fs = card_or_image.fs if isinstance(card_or_image, Card) else ("exfat" if b"EXFAT" in image.read_bytes()[:16]
                                                                     else "fat32")
    cmd = [tool("fsck.exfat"), "-n", str(image)] if fs == "exfat" else [tool("fsck.fat"), "-n", str(image)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def have(*tools: str) -> bool:
    try:
        for t in tools:
            tool(t)
    except FileNotFoundError:
        return False
    return shutil.which("ffmpeg") is not None
