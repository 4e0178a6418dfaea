"""exFAT, read and delete. Layout per Microsoft's exFAT file system specification.

Entry sets are checked (set checksum, secondary count, name length) and refused when broken;
allocation uses the cluster bitmap, files flagged NoFatChain are contiguous. Deletion clears the
entries' in-use bits and the clusters' bitmap bits, as the Linux driver does.
"""

from __future__ import annotations

import array
import struct
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from device_adapters.mass_storage.fs.base import ATTR_DIRECTORY, Device, Entry, FsError, Listing, Volume, printable
from device_adapters.mass_storage.fs.chain import LinkRules, walk_chain

_EOC = 0xFFFFFFF8
_BAD = 0xFFFFFFF7
_MAX_CLUSTERS = 32 * 1024 * 1024
_MAX_DIR_BYTES = 64 * 1024 * 1024
T_BITMAP, T_UPCASE, T_LABEL, T_FILE = 0x81, 0x82, 0x83, 0x85
T_STREAM, T_NAME = 0xC0, 0xC1
F_ALLOC_POSSIBLE, F_NO_FAT_CHAIN = 0x01, 0x02


def _broken_link(link: int, cluster: int) -> str | None:
    if link == _BAD or link < 2:
        return f"is broken at cluster {cluster}"
    if link >= _EOC:  # only 0xFFFFFFFF ends an exFAT chain; 0xFFFFFFF8..FE are not defined
        return f"has the undefined link 0x{link:08X} at cluster {cluster}"
    return None


# exFAT links use all 32 bits and only 0xFFFFFFFF ends a chain.
_LINKS = LinkRules(mask=0xFFFFFFFF, end=0xFFFFFFFF, broken=_broken_link)
_BIT_BYTES = tuple(bytes((b >> k) & 1 for k in range(8)) for b in range(256))


def looks_like_exfat(boot: bytes) -> bool:
    return len(boot) >= 512 and boot[3:11] == b"EXFAT   "


def boot_checksum(region: bytes) -> int:
    """Checksum of the 11 boot sectors, skipping VolumeFlags and PercentInUse."""
    chk = 0
    for i, b in enumerate(region):
        if i in (106, 107, 112):
            continue
        chk = (((chk & 1) << 31) | (chk >> 1)) + b
        chk &= 0xFFFFFFFF
    return chk


def set_checksum(entries: bytes) -> int:
    chk = 0
    for i, b in enumerate(entries):
        if i in (2, 3):
            continue
        chk = ((((chk & 1) << 15) | (chk >> 1)) + b) & 0xFFFF
    return chk


class ExfatVolume(Volume):
    fs_type = "exfat"

    def __init__(self, device: Device) -> None:
        self.device = device
        bs = device.pread(0, 512)
        if not looks_like_exfat(bs) or bs[510:512] != b"\x55\xaa":
            raise FsError("no exFAT boot sector")
        if any(bs[11:64]):
            raise FsError("exFAT boot sector has data where the spec requires zeros")
        (vol_len,) = struct.unpack_from("<Q", bs, 72)
        fat_off, fat_len, heap_off, count, root = struct.unpack_from("<IIIII", bs, 80)
        (flags,) = struct.unpack_from("<H", bs, 106)
        bps_shift, spc_shift, nfats = bs[108], bs[109], bs[110]
        if not 9 <= bps_shift <= 12 or bps_shift + spc_shift > 25:
            raise FsError("exFAT sector/cluster size out of range")
        bps = 1 << bps_shift
        region = device.pread(0, 11 * bps)
        stored = device.pread(11 * bps, bps)
        want = struct.pack("<I", boot_checksum(region)) * (bps // 4)
        if stored != want:
            raise FsError("exFAT boot region checksum does not match")
        if vol_len * bps > device.size:
            raise FsError(f"exFAT volume claims {vol_len * bps} bytes, the device has {device.size}")
        if nfats not in (1, 2) or count > _MAX_CLUSTERS:
            raise FsError("exFAT FAT count or cluster count out of range")
        self.bytes_per_sector = bps
        self.cluster_size = bps << spc_shift
        self.cluster_count = count
        self.heap_offset = heap_off * bps
        if self.heap_offset + count * self.cluster_size > device.size:
            raise FsError("exFAT cluster heap extends past the device")
        if (count + 2) * 4 > fat_len * bps:
            raise FsError("exFAT FAT is too small for the cluster count")
        active = flags & 0x01 if nfats == 2 else 0
        self.fat_offset = (fat_off + active * fat_len) * bps
        if not 2 <= root <= count + 1:
            raise FsError(f"root directory cluster {root} out of range")
        self.root_cluster = root
        self.volume_serial = struct.unpack_from("<I", bs, 100)[0]
        self._fat: array.array[int] | None = None
        self._bitmap: bytearray | None = None
        self._dirty = (1 << 62, -1)  # byte range of the bitmap changed in memory, not yet written
        self.bitmap_offset = 0
        self.upcase_entry: Entry | None = None
        self.bitmap_entries: list[Entry] = []
        self._read_root_metadata(active)

    def _read_root_metadata(self, active: int) -> None:
        bitmap: tuple[int, int] | None = None
        for _off, slot in self.iter_dir_bytes(self.root(), _MAX_DIR_BYTES):
            t = slot[0]
            if t == 0:
                break
            first, length = struct.unpack_from("<IQ", slot, 20)
            if t == T_BITMAP:
                self.bitmap_entries.append(_metadata_entry(f"(allocation bitmap {slot[1] & 1})", first, length))
                if (slot[1] & 1) == active:
                    bitmap = (first, length)
            elif t == T_UPCASE:
                self.upcase_entry = _metadata_entry("(up-case table)", first, length)
        if bitmap is None:
            raise FsError("exFAT root directory has no allocation bitmap")
        first, length = bitmap
        if length < (self.cluster_count + 7) // 8 or length > self.cluster_count:
            raise FsError("exFAT allocation bitmap has the wrong size")
        self.bitmap_offset = self.cluster_offset(first)
        self._bitmap_len = (self.cluster_count + 7) // 8

    # --- allocation ---------------------------------------------------------------------------

    def fat(self) -> array.array[int]:
        if self._fat is None:
            table = array.array("I")
            table.frombytes(self.device.pread(self.fat_offset, (self.cluster_count + 2) * 4))
            if sys.byteorder == "big":
                table.byteswap()
            self._fat = table
        return self._fat

    def bitmap(self) -> bytearray:
        if self._bitmap is None:
            self._bitmap = bytearray(self.device.pread(self.bitmap_offset, self._bitmap_len))
        return self._bitmap

    def in_use(self, cluster: int) -> bool:
        i = cluster - 2
        return bool(self.bitmap()[i >> 3] & (1 << (i & 7)))

    def free_bytes(self) -> int:
        used = int.from_bytes(self.bitmap(), "little").bit_count()
        return (self.cluster_count - used) * self.cluster_size

    def allocation(self) -> bytes:
        bits = b"".join(_BIT_BYTES[b] for b in self.bitmap())
        return b"\0\0" + bits[: self.cluster_count]

    def metadata(self) -> list[tuple[str, Entry]]:
        upcase = [(self.upcase_entry.shown, self.upcase_entry)] if self.upcase_entry is not None else []
        return [("(root directory)", self.root()), *((e.shown, e) for e in self.bitmap_entries), *upcase]

    def chain(self, entry: Entry, limit: int) -> list[int]:
        first = entry.first_cluster
        if first == 0:
            return []
        if entry.contiguous:
            n = -(-entry.size // self.cluster_size)
            if n > limit:
                raise FsError(f"{entry.shown!r} is larger than expected")
            if first < 2 or first + n - 1 > self.cluster_count + 1:
                raise FsError(f"clusters of {entry.shown!r} lie outside the volume")
            return list(range(first, first + n))
        return walk_chain(self.fat(), first, rules=_LINKS, cluster_count=self.cluster_count, limit=limit,
                          shown=entry.shown)

    # --- directories --------------------------------------------------------------------------

    def root(self) -> Entry:
        return Entry(
            name="", shown="/", is_dir=True, size=0, first_cluster=self.root_cluster, contiguous=False,
            created=None, modified=None, attributes=ATTR_DIRECTORY, slots=(),
        )

    def dir_limit(self, directory: Entry) -> int:
        if directory.contiguous or directory.size:
            return min(directory.size, _MAX_DIR_BYTES)
        return _MAX_DIR_BYTES

    def list_dir(self, directory: Entry, limit: int) -> Listing:
        slots = self.iter_dir_bytes(directory, self.dir_limit(directory))
        entries: list[Entry] = []
        pending: list[tuple[int, bytes]] = []
        want = 0
        for off, slot in slots:
            if want:
                pending.append((off, slot))
                if len(pending) == want:
                    if len(entries) >= limit:
                        return Listing(tuple(entries), truncated=True)
                    entries.append(self._entry_set(pending))
                    pending, want = [], 0
                continue
            t = slot[0]
            if t == 0x00:
                break
            if not t & 0x80:
                continue  # deleted or unused
            if t == T_FILE:
                pending, want = [(off, slot)], 1 + slot[1]
                if slot[1] < 2:
                    entries.append(_broken(off, "file entry has fewer than 2 secondary entries"))
                    pending, want = [], 0
            elif t in (T_BITMAP, T_UPCASE, T_LABEL) or t & 0x20:
                continue  # volume metadata and benign primaries (GUID, vendor) are not files
            else:
                entries.append(_broken(off, f"unknown critical directory entry type 0x{t:02x}"))
        if pending:
            entries.append(_broken(pending[0][0], "entry set is cut off by the end of the directory"))
        return Listing(tuple(entries), truncated=False)

    def _entry_set(self, items: list[tuple[int, bytes]]) -> Entry:
        offs = tuple(o for o, _ in items)
        raw = b"".join(s for _, s in items)
        file, stream = items[0][1], items[1][1]
        if stream[0] != T_STREAM:
            return _broken(offs[0], "file entry is not followed by a stream extension", offs)
        if set_checksum(raw) != struct.unpack_from("<H", file, 2)[0]:
            return _broken(offs[0], "entry set checksum does not match", offs)
        name_len = stream[3]
        names = [s for _, s in items[2:] if s[0] == T_NAME]
        if name_len == 0 or len(names) != -(-name_len // 15) or items[2][1][0] != T_NAME:
            return _broken(offs[0], "file name entries do not match the name length", offs)
        units = b"".join(s[2:32] for s in names)[: name_len * 2]
        loose = units.decode("utf-16-le", "surrogatepass")
        try:
            name: str | None = units.decode("utf-16-le")
        except UnicodeDecodeError:
            name = None
        (attr,) = struct.unpack_from("<H", file, 4)
        ctime, mtime = struct.unpack_from("<II", file, 8)
        flags = stream[1]
        valid_len, = struct.unpack_from("<Q", stream, 8)
        first, size = struct.unpack_from("<IQ", stream, 20)
        problem = None
        if not flags & F_ALLOC_POSSIBLE and (first or size):
            problem = "stream says no allocation but has clusters"
        elif valid_len > size:
            problem = "valid data length exceeds the size"
        is_dir = bool(attr & ATTR_DIRECTORY)
        return Entry(
            name=name,
            shown=printable(loose),
            is_dir=is_dir,
            size=size,
            first_cluster=first,
            contiguous=bool(flags & F_NO_FAT_CHAIN),
            created=exfat_time(ctime, file[20], file[22]),
            modified=exfat_time(mtime, file[21], file[23]),
            attributes=attr,
            slots=offs,
            problem=problem,
        )

    # --- deletion -----------------------------------------------------------------------------

    def delete(self, entries: Sequence[Entry]) -> None:
        if not self.device.writable:
            raise FsError("the volume is open read-only")
        freed: list[int] = []
        for e in entries:
            freed.extend(self.chain(e, self.cluster_count))
        for e in entries:
            for off in e.slots:
                t = self.device.pread(off, 1)[0]
                self.device.pwrite(off, bytes([t & 0x7F]))
        self.device.sync()
        self.set_bits(freed, False)
        self.device.sync()

    def set_bits(self, clusters: Sequence[int], used: bool, *, flush: bool = True) -> None:
        bm = self.bitmap()
        for c in clusters:
            i = c - 2
            if used:
                bm[i >> 3] |= 1 << (i & 7)
            else:
                bm[i >> 3] &= ~(1 << (i & 7)) & 0xFF
            self._dirty = (min(self._dirty[0], i >> 3), max(self._dirty[1], i >> 3))
        if flush:
            self.flush_bitmap()

    def flush_bitmap(self) -> None:
        lo, hi = self._dirty
        if lo > hi:
            return
        bm = self.bitmap()
        self.device.pwrite(self.bitmap_offset + lo, bytes(bm[lo : hi + 1]))
        self._dirty = (1 << 62, -1)
        used_clusters = self.cluster_count - self.free_bytes() // self.cluster_size
        # PercentInUse is outside the boot checksum, so it can be kept current.
        self.device.pwrite(112, bytes([used_clusters * 100 // max(1, self.cluster_count)]))


def _metadata_entry(shown: str, first: int, length: int) -> Entry:
    return Entry(name=None, shown=shown, is_dir=False, size=length, first_cluster=first, contiguous=False,
                 created=None, modified=None, attributes=0, slots=())


def _broken(off: int, problem: str, slots: tuple[int, ...] | None = None) -> Entry:
    return Entry(
        name=None, shown=f"(directory entry at byte {off})", is_dir=False, size=0, first_cluster=0,
        contiguous=False, created=None, modified=None, attributes=0, slots=slots or (off,), problem=problem,
    )


def exfat_time(stamp: int, ten_ms: int, utc_offset: int) -> datetime | None:
    date, time = stamp >> 16, stamp & 0xFFFF
    if date == 0:
        return None
    try:
        dt = datetime(
            1980 + (date >> 9), (date >> 5) & 0x0F, date & 0x1F,
            time >> 11, (time >> 5) & 0x3F, (time & 0x1F) * 2 + min(ten_ms, 199) // 100,
            (min(ten_ms, 199) % 100) * 10000,
        )
    except ValueError:
        return None
    if utc_offset & 0x80:
        quarters = utc_offset & 0x7F
        if quarters >= 0x40:
            quarters -= 0x80
        return dt.replace(tzinfo=timezone(timedelta(minutes=15 * quarters))).astimezone(UTC)
    return dt
