"""FAT32, read and delete. Layout per Microsoft's FAT specification (fatgen103).

Only what a camera's card needs: long file names, 8.3 names, cluster chains, deletion with the
FAT copies and FSInfo kept consistent (``fsck.fat -n`` finds nothing to fix after a wipe).
"""

from __future__ import annotations

import array
import struct
import sys
from collections.abc import Sequence
from datetime import datetime

from device_adapters.mass_storage.fs.base import (
    ATTR_DIRECTORY,
    ATTR_VOLUME,
    Device,
    Entry,
    FsError,
    Listing,
    Volume,
    printable,
)
from device_adapters.mass_storage.fs.chain import LinkRules, walk_chain

_LFN = 0x0F
_EOC = 0x0FFFFFF8
_BAD = 0x0FFFFFF7
_MASK = 0x0FFFFFFF
# Longest chain we will hold in memory for a FAT: 32 Mi clusters (a 128 MiB FAT).
_MAX_CLUSTERS = 32 * 1024 * 1024
_MAX_DIR_BYTES = 2 * 1024 * 1024  # FAT allows 65536 entries of 32 bytes per directory

# Characters a FAT long name may not hold; a camera (or an attacker) can still write them.
_FORBIDDEN = frozenset('"*/:<>?\\|')


def _broken_link(link: int, _cluster: int) -> str | None:
    if link == _BAD:
        return "runs into a bad cluster"
    if link == 0:
        return "runs into a free cluster"
    return None  # 1 is reserved, not a cluster: the walk refuses it as outside the volume


_LINKS = LinkRules(mask=_MASK, end=_EOC, broken=_broken_link)
_LOW_NIBBLE = bytes(b & 0x0F for b in range(256))
_NONZERO = bytes([0] + [1] * 255)
_EQUALS = tuple(bytes(int(b == v) for b in range(256)) for v in range(256))


def looks_like_fat32(boot: bytes) -> bool:
    return len(boot) >= 512 and boot[510:512] == b"\x55\xaa" and boot[82:90] == b"FAT32   "


class Fat32Volume(Volume):
    fs_type = "fat32"

    def __init__(self, device: Device) -> None:
        self.device = device
        bs = device.pread(0, 512)
        if bs[510:512] != b"\x55\xaa":
            raise FsError("no FAT boot sector signature")
        bps, spc, rsvd, nfats, root_entries, tot16 = struct.unpack_from("<HBHBHH", bs, 11)
        fatsz16 = struct.unpack_from("<H", bs, 22)[0]
        tot32, fatsz32, ext_flags = struct.unpack_from("<IIH", bs, 32)
        root_cluster, fsinfo = struct.unpack_from("<IH", bs, 44)
        if bps not in (512, 1024, 2048, 4096):
            raise FsError(f"bytes per sector {bps} is not valid for FAT")
        if spc == 0 or spc & (spc - 1) or spc > 128:
            raise FsError(f"sectors per cluster {spc} is not valid for FAT")
        if root_entries != 0 or fatsz16 != 0:
            raise FsError("FAT12/FAT16 volume; only FAT32 and exFAT are supported")
        if rsvd < 1 or nfats not in (1, 2) or fatsz32 == 0:
            raise FsError("FAT32 boot sector has impossible reserved/FAT sizes")
        total = tot32 if tot16 == 0 else tot16
        if total * bps > device.size:
            raise FsError(f"FAT32 volume claims {total * bps} bytes, the device has {device.size}")
        first_data = rsvd + nfats * fatsz32
        if first_data >= total:
            raise FsError("FAT32 volume has no data area")
        self.bytes_per_sector = bps
        self.cluster_size = bps * spc
        self.cluster_count = (total - first_data) // spc
        if self.cluster_count < 65525:
            raise FsError(f"{self.cluster_count} clusters is a FAT12/16 volume, not FAT32")
        if self.cluster_count > min(_MAX_CLUSTERS, 0x0FFFFFF5):
            raise FsError(f"{self.cluster_count} clusters is more than bodydock reads")
        if (self.cluster_count + 2) * 4 > fatsz32 * bps:
            raise FsError("FAT is too small for the cluster count")
        self.heap_offset = first_data * bps
        self.fat_size = fatsz32 * bps
        self.fat_offsets = tuple((rsvd + i * fatsz32) * bps for i in range(nfats))
        # Mirroring off (bit 7): only the active FAT is used and kept up to date.
        self.active_fats = (ext_flags & 0x0F,) if ext_flags & 0x80 else tuple(range(nfats))
        if max(self.active_fats) >= nfats:
            raise FsError("active FAT index out of range")
        self.fsinfo_offset = fsinfo * bps if 0 < fsinfo < rsvd else None
        if not 2 <= root_cluster <= self.cluster_count + 1:
            raise FsError(f"root directory cluster {root_cluster} out of range")
        self.root_cluster = root_cluster
        self.volume_serial = struct.unpack_from("<I", bs, 67)[0]
        self._fat: array.array[int] | None = None

    # --- FAT ----------------------------------------------------------------------------------

    def fat(self) -> array.array[int]:
        if self._fat is None:
            raw = self.device.pread(self.fat_offsets[self.active_fats[0]], (self.cluster_count + 2) * 4)
            table = array.array("I")
            table.frombytes(raw)
            if sys.byteorder == "big":
                table.byteswap()
            self._fat = table
        return self._fat

    def chain(self, entry: Entry, limit: int) -> list[int]:
        if entry.first_cluster == 0:
            return []  # no clusters allocated (an empty file)
        return walk_chain(self.fat(), entry.first_cluster, rules=_LINKS, cluster_count=self.cluster_count,
                          limit=limit, shown=entry.shown)

    def free_bytes(self) -> int:
        free = self.fat()[2 : self.cluster_count + 2].count(0)
        return free * self.cluster_size

    def allocation(self) -> bytes:
        # Byte planes and big-integer OR/AND instead of a Python loop per cluster: a 32 GB card
        # has a million clusters, and the account runs on every listing.
        table = array.array("I", self.fat())
        if sys.byteorder == "big":
            table.byteswap()
        raw, n = table.tobytes(), len(table)
        planes = [raw[i::4] for i in range(4)]
        planes[3] = planes[3].translate(_LOW_NIBBLE)  # the top four bits are not the link
        used = 0
        for plane in planes:
            used |= int.from_bytes(plane, "little")
        used = int.from_bytes(used.to_bytes(n, "little").translate(_NONZERO), "little")
        bad = -1
        for plane, byte in zip(planes, _BAD.to_bytes(4, "little"), strict=True):
            bad &= int.from_bytes(plane.translate(_EQUALS[byte]), "little")
        out = bytearray((used & ~bad).to_bytes(n, "little"))
        out[0:2] = b"\0\0"
        return bytes(out)

    def metadata(self) -> list[tuple[str, Entry]]:
        return [("(root directory)", self.root())]

    def allocation_problems(self) -> list[str]:
        # Tools disagree on which copy counts (dosfstools and Linux read FAT 0 whatever the
        # mirroring flag says), so every copy must say the same before anything is freed.
        length = self.cluster_count * 4
        first = self.device.pread(self.fat_offsets[0] + 8, length)
        return [f"FAT copy {i} differs from FAT copy 0 (FAT mirroring "
                f"{'off, FAT ' + str(self.active_fats[0]) + ' active' if len(self.active_fats) == 1 else 'on'})"
                for i in range(1, len(self.fat_offsets))
                if self.device.pread(self.fat_offsets[i] + 8, length) != first]

    # --- directories ----------------------------------------------------------------------------

    def root(self) -> Entry:
        return Entry(
            name="", shown="/", is_dir=True, size=0, first_cluster=self.root_cluster, contiguous=False,
            created=None, modified=None, attributes=ATTR_DIRECTORY, slots=(),
        )

    def list_dir(self, directory: Entry, limit: int) -> Listing:
        entries: list[Entry] = []
        lfn: dict[int, bytes] = {}
        lfn_slots: list[int] = []
        # Every long-name slot since the last short entry, orphans included: deleting the entry
        # deletes them too, so no orphan long-name part is left behind (fsck would flag it).
        loose: list[int] = []
        lfn_sum = -1
        expect = 0
        for off, slot in self.iter_dir_bytes(directory, _MAX_DIR_BYTES):
            first = slot[0]
            if first == 0x00:
                break
            if first == 0xE5:
                lfn, lfn_slots, expect, loose = {}, [], 0, []
                continue
            attr = slot[11]
            if attr & 0x3F == _LFN:
                loose.append(off)
                seq = first & 0x3F
                if first & 0x40:
                    lfn, lfn_slots, lfn_sum = {}, [], slot[13]
                elif not lfn or seq != expect - 1 or slot[13] != lfn_sum:
                    lfn, lfn_slots, expect = {}, [], 0  # orphan part: ignored, as every FAT driver does
                    continue
                lfn[seq] = slot[1:11] + slot[14:26] + slot[28:32]
                lfn_slots.append(off)
                expect = seq
                continue
            short = slot[0:11]
            use_lfn = bool(lfn) and expect == 1 and _short_checksum(short) == lfn_sum
            parts = lfn if use_lfn else {}
            part_slots = loose
            lfn, lfn_slots, expect, loose = {}, [], 0, []
            if attr & ATTR_VOLUME or short[:2] in (b". ", b".."):
                continue
            if len(entries) >= limit:
                return Listing(tuple(entries), truncated=True)
            entries.append(self._entry(off, slot, parts, part_slots))
        return Listing(tuple(entries), truncated=False)

    def _entry(self, off: int, slot: bytes, lfn: dict[int, bytes], lfn_slots: list[int]) -> Entry:
        attr = slot[11]
        if lfn:
            name, shown = _decode_lfn(b"".join(lfn[k] for k in sorted(lfn)))
        else:
            name, shown = _decode_short(slot[0:11], slot[12])
        hi, ctime, cdate, _adate, hi_cluster, mtime, mdate, lo_cluster, size = struct.unpack_from(
            "<BHHHHHHHI", slot, 13
        )
        is_dir = bool(attr & ATTR_DIRECTORY)
        return Entry(
            name=name,
            shown=shown,
            is_dir=is_dir,
            size=0 if is_dir else size,
            first_cluster=(hi_cluster << 16) | lo_cluster,
            contiguous=False,
            created=dos_time(cdate, ctime, hi),
            modified=dos_time(mdate, mtime, 0),
            attributes=attr,
            slots=(*lfn_slots, off),
        )

    # --- deletion --------------------------------------------------------------------------------

    def delete(self, entries: Sequence[Entry]) -> None:
        if not self.device.writable:
            raise FsError("the volume is open read-only")
        fat = self.fat()
        freed: list[int] = []
        for e in entries:
            freed.extend(self.chain(e, self.cluster_count))
        # Entries first, then clusters: a crash in between leaves lost clusters (fsck frees
        # them), never a live file pointing at free space.
        for e in entries:
            for off in e.slots:
                self.device.pwrite(off, b"\xe5")
        self.device.sync()
        for c in freed:
            fat[c] = 0
        for lo, hi in _spans(sorted(freed)):
            data = fat[lo : hi + 1]
            if sys.byteorder == "big":
                data = array.array("I", data)
                data.byteswap()
            # Every copy, mirroring or not: the whole-card account checked they agreed.
            for base in self.fat_offsets:
                self.device.pwrite(base + lo * 4, data.tobytes())
        self._update_fsinfo()
        self.device.sync()

    def _update_fsinfo(self) -> None:
        if self.fsinfo_offset is None:
            return
        info = self.device.pread(self.fsinfo_offset, 512)
        lead, struc = struct.unpack_from("<I", info, 0)[0], struct.unpack_from("<I", info, 484)[0]
        if lead != 0x41615252 or struc != 0x61417272:
            return
        free = self.free_bytes() // self.cluster_size
        self.device.pwrite(self.fsinfo_offset + 488, struct.pack("<I", free))


def _spans(sorted_clusters: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for c in sorted_clusters:
        if spans and spans[-1][1] + 1 == c:
            spans[-1] = (spans[-1][0], c)
        else:
            spans.append((c, c))
    return spans


def _short_checksum(short: bytes) -> int:
    s = 0
    for b in short:
        s = (((s & 1) << 7) + (s >> 1) + b) & 0xFF
    return s


def _decode_lfn(raw: bytes) -> tuple[str | None, str]:
    units = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if b"\x00\x00" in units:
        units = units[: units.index(b"\x00\x00")]
    data = b"".join(units)
    loose = data.decode("utf-16-le", "surrogatepass")
    try:
        name: str | None = data.decode("utf-16-le")
    except UnicodeDecodeError:
        name = None
    return name, printable(loose)


def _decode_short(short: bytes, nt_flags: int) -> tuple[str | None, str]:
    base = bytearray(short[0:8].rstrip(b" "))
    ext = short[8:11].rstrip(b" ")
    if base[:1] == b"\x05":
        base[0] = 0xE5
    raw = bytes(base) + (b"." + ext if ext else b"")
    if any(c >= 0x80 for c in raw):
        # The OEM code page of an 8.3 name is unknowable; a camera writes plain ASCII.
        return None, printable("".join(f"\\x{c:02x}" if c >= 0x80 else chr(c) for c in raw))
    b = base.decode("ascii")
    e = ext.decode("ascii")
    if nt_flags & 0x08:
        b = b.lower()
    if nt_flags & 0x10:
        e = e.lower()
    name = b + ("." + e if e else "")
    return name, printable(name)


def dos_time(date: int, time: int, tenths: int) -> datetime | None:
    """A FAT date/time (local time of the camera, no zone) or None if it is not a real time."""
    if date == 0:
        return None
    try:
        return datetime(
            1980 + (date >> 9), (date >> 5) & 0x0F, date & 0x1F,
            time >> 11, (time >> 5) & 0x3F, min(59, (time & 0x1F) * 2 + tenths // 100),
        )
    except ValueError:
        return None


def forbidden_in_fat_name(name: str) -> bool:
    return any(ch in _FORBIDDEN for ch in name)
