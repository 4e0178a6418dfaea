"""Coverage-guided fuzzing (atheris) of the userspace FAT32/exFAT readers: boot sector, FAT or
allocation bitmap, and directory parsing, through the whole-card scan and a wipe.

An input is XORed onto the structures of a real card image (made once with mkfs.vfat + mtools or
mkfs.exfat): the first byte chooses the file system (bit 0) and whether exFAT checksums are left
broken (bit 1; by default they are recomputed, as a tampering tool would); the rest covers the
root directory and the folders below it, the head of the FAT (and for exFAT the allocation bitmap
and the up-case table) and the boot sector, so an empty input is the intact card and every mutation lands where parsing
happens. The image lives in memory behind the ``Device`` interface (no file per input). Every
input must end in data (a scan: recordings and findings) or an ``AdapterError`` (``FsError``: the
card is unreadable, a clear error); any other exception, a hang (libFuzzer ``-timeout``) or a
blow-up (``-rss_limit_mb``) is a crash.

    .venv/bin/python tests/fuzz/fs_fuzz.py -max_total_time=600 -rss_limit_mb=2048 -timeout=10 \\
        /tmp/fuzz-corpus tests/fuzz/corpus
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

try:
    import atheris
except ImportError:  # the regression test replays the corpus without it
    atheris = None

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Coverage of the readers only (instrumenting everything loaded makes each input ten times slower).
_coverage = (atheris.instrument_imports(include=["device_adapters"]) if atheris is not None and __name__ == "__main__"
             else contextlib.nullcontext())
with _coverage:
    from device_adapters.api import AdapterError
    from device_adapters.mass_storage import images
    from device_adapters.mass_storage.fs import Device, FsError, Volume, open_volume
    from device_adapters.mass_storage.fs.exfat import T_FILE, ExfatVolume, boot_checksum, set_checksum
    from device_adapters.mass_storage.scan import Limits, scan

FILES = {
    "DCIM/100BODY/VID_0001.MP4": b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8,
    "DCIM/100BODY/A long recording name 2.mp4": b"clip two" * 100,
    "DCIM/100BODY/EMPTY.MP4": b"",
    "DCIM/101BODY/deep/VID_0003.MOV": b"three" * 300,
    "MISC/FW.BIN": b"firmware" * 40,
}


class MemDevice(Device):
    """A card image in memory with the input's bytes XORed on; writes land in an overlay."""

    def __init__(self, base: bytes, patches: list[tuple[int, bytes]], *, writable: bool = False) -> None:
        self.path, self.writable, self.offset, self.size = "(fuzz input)", writable, 0, len(base)
        self.identity = (0, 0, 0)
        self._fd = -1
        self._base, self._patches = base, patches

    def window(self, offset: int, length: int) -> Device:
        raise FsError("no partitions in fuzz inputs")

    def pread(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise FsError(f"read of {size} bytes at {offset} is outside the volume ({self.size} bytes)")
        out = bytearray(self._base[offset : offset + size])
        for at, data in self._patches:
            lo, hi = max(at, offset), min(at + len(data), offset + size)
            if lo < hi:
                out[lo - offset : hi - offset] = data[lo - at : hi - at]
        return bytes(out)

    def pwrite(self, offset: int, data: bytes) -> None:
        if not self.writable:
            raise FsError("the volume is open read-only")
        if offset < 0 or offset + len(data) > self.size:
            raise FsError(f"write of {len(data)} bytes at {offset} is outside the volume")
        self._patches.append((offset, bytes(data)))

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Base:
    image: bytes
    regions: tuple[tuple[int, int], ...]  # (offset, length) the input covers, in order
    dirs: int  # how many of the regions (the first ones) are directory clusters


def _regions(image: bytes, fs: str) -> tuple[tuple[int, int], ...]:
    dev = MemDevice(image, [])
    vol = open_volume("(base)", opener=lambda _p, writable=False: dev)
    out = [(0, 512)]
    if fs == "fat32":
        out.append((vol.fat_offsets[0], 1024))  # type: ignore[attr-defined]
    else:
        assert isinstance(vol, ExfatVolume)
        out += [(vol.fat_offset, 512), (vol.bitmap_offset, 64)]
        if vol.upcase_entry is not None:
            out.append((vol.cluster_offset(vol.upcase_entry.first_cluster), 128))
    dirs: list[tuple[int, int]] = []
    todo = [vol.root()]
    while todo and len(dirs) < 8:
        d = todo.pop()
        dirs.append((vol.cluster_offset(d.first_cluster), min(vol.cluster_size, 1024)))
        todo += [e for e in vol.list_dir(d, 100).entries if e.is_dir]
    # Directories first: a short input already reaches the directory parsers.
    return (*dirs, *out[1:], out[0])


def _make(fs: str) -> Base:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{fs}.img"
        if fs == "fat32":
            images.make_fat32(path, FILES, size=33 * images.MIB)
        else:
            images.make_exfat(path, FILES, size=4 * images.MIB, cluster=512)
        image = path.read_bytes()
    regions = _regions(image, fs)
    return Base(image, regions, len(regions) - (2 if fs == "fat32" else 4))


_BASES: dict[str, Base] = {}


def base(fs: str) -> Base:
    if fs not in _BASES:
        _BASES[fs] = _make(fs)
    return _BASES[fs]


def patches_for(data: bytes) -> tuple[Base, list[tuple[int, bytes]]]:
    b = base("exfat" if data[:1] and data[0] & 1 else "fat32")
    rest = data[1:]
    patches: list[tuple[int, bytes]] = []
    for off, length in b.regions:
        if not rest:
            break
        chunk, rest = rest[:length], rest[length:]
        orig = b.image[off : off + len(chunk)]
        patches.append((off, bytes(x ^ y for x, y in zip(orig, chunk, strict=True))))
    if b is _BASES.get("exfat") and not (data[:1] and data[0] & 2):
        _fix_exfat_checksums(b, patches)  # as a tampering tool would: gets past the checksums
    return b, patches


def _fix_exfat_checksums(b: Base, patches: list[tuple[int, bytes]]) -> None:
    view = MemDevice(b.image, patches)
    boot = view.pread(0, 11 * 512)
    patches.append((11 * 512, struct.pack("<I", boot_checksum(boot)) * 128))
    for off, length in b.regions[: b.dirs]:
        raw = view.pread(off, length)
        for i in range(0, length - 32, 32):
            if raw[i] == T_FILE:
                n = 1 + raw[i + 1]
                if i + 32 * n <= length:
                    chk = set_checksum(raw[i : i + 32 * n])
                    patches.append((off + i + 2, struct.pack("<H", chk)))


def one_input(data: bytes) -> None:
    """Scan the mutated card, read every recording it offers, wipe one and scan again."""
    b, patches = patches_for(data)
    limits = Limits(max_entries_total=5_000, max_entries_per_dir=2_000)
    with contextlib.suppress(AdapterError):  # FsError and its kin: the card is unreadable, said clearly
        _exercise(lambda writable: MemDevice(b.image, patches, writable=writable), limits)


def _exercise(device: Callable[[bool], MemDevice], limits: Limits) -> None:
    vol: Volume = open_volume("(fuzz)", opener=lambda _p, writable=False: device(writable))
    found = scan(vol, ("DCIM",), ("mp4", "mov"), limits, ("MISC/**",))
    for rec in found.recordings:
        data = vol.read_runs(rec.runs, 0, rec.entry.size)
        assert len(data) == rec.entry.size, "a recording reads back at its listed size"
    if found.findings or not found.recordings:
        return
    # The wipe path: delete one recording on a writable overlay, then account for the card again.
    rw = open_volume("(fuzz)", opener=lambda _p, writable=False: device(True), writable=True)
    again = scan(rw, ("DCIM",), ("mp4", "mov"), limits, ("MISC/**",))
    if again.findings or not again.recordings:
        return
    rw.delete([again.recordings[0].entry])
    scan(rw, ("DCIM",), ("mp4", "mov"), limits, ("MISC/**",))


def main() -> None:
    assert atheris is not None, "pip install atheris (a dev dependency)"
    base("fat32")
    base("exfat")
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("MTOOLS_SKIP_CHECK", "1")
    main()
