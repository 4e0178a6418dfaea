"""Adding files and directories to an exFAT volume (one made by ``mkfs.exfat``).

Not used by the station, which only reads and deletes: this fills card images for the
conformance simulator and the tests without FUSE or root. Files are written contiguously
(NoFatChain), directories are extended through the FAT when they fill up. ``fsck.exfat -n``
accepts the result; the tests check that.
"""

from __future__ import annotations

import itertools
import struct
from datetime import UTC, datetime

from device_adapters.mass_storage.fs.base import ATTR_DIRECTORY, Entry, FsError
from device_adapters.mass_storage.fs.exfat import (
    F_ALLOC_POSSIBLE,
    F_NO_FAT_CHAIN,
    T_FILE,
    T_NAME,
    T_STREAM,
    ExfatVolume,
    set_checksum,
)

_ATTR_ARCHIVE = 0x20
_EOC = 0xFFFFFFFF


class ExfatWriter:
    def __init__(self, volume: ExfatVolume) -> None:
        if not volume.device.writable:
            raise FsError("the volume is open read-only")
        self.v = volume
        self._upcase = self._load_upcase()
        self._hint = 2
        # Per directory (by first cluster): its clusters, index of the first free slot, and its
        # own entry set (None for the root, which has none).
        self._dirs: dict[int, tuple[list[int], int, Entry | None]] = {}

    def close(self) -> None:
        self.v.flush_bitmap()
        self.v.device.sync()

    # --- public -------------------------------------------------------------------------------

    def mkdir(self, parent: Entry, name: str, when: datetime | None = None, *, capacity: int = 0) -> Entry:
        """A new directory; ``capacity`` slots (32 bytes each) are reserved up front."""
        size = max(self.v.cluster_size, -(-capacity * 32 // self.v.cluster_size) * self.v.cluster_size)
        first = self._alloc(size // self.v.cluster_size)
        zero = bytes(self.v.cluster_size)
        for c in range(first, first + size // self.v.cluster_size):
            self.v.device.pwrite(self.v.cluster_offset(c), zero)
        entry = self._add_entry(parent, name, ATTR_DIRECTORY, first, size, when)
        self._dirs[first] = (list(range(first, first + size // self.v.cluster_size)), 0, entry)
        return entry

    def add_file(
        self, parent: Entry, name: str, data: bytes, when: datetime | None = None, *, attributes: int = 0
    ) -> Entry:
        n = -(-len(data) // self.v.cluster_size)
        first = self._alloc(n) if n else 0
        if n:
            self.v.device.pwrite(self.v.cluster_offset(first), data)
        return self._add_entry(parent, name, _ATTR_ARCHIVE | attributes, first, len(data), when)

    # --- internals ----------------------------------------------------------------------------

    def _load_upcase(self) -> dict[int, int]:
        e = self.v.upcase_entry
        if e is None:
            raise FsError("exFAT volume has no up-case table")
        raw = self.v.read_runs(self.v.runs(e), 0, e.size)
        table: dict[int, int] = {}
        i = 0
        units = struct.unpack(f"<{len(raw) // 2}H", raw[: len(raw) // 2 * 2])
        k = 0
        while k < len(units):
            u = units[k]
            if u == 0xFFFF and k + 1 < len(units):  # compressed: an identity-mapped run
                i += units[k + 1]
                k += 2
                continue
            if u != i:
                table[i] = u
            i += 1
            k += 1
        return table

    def _name_hash(self, units: list[int]) -> int:
        h = 0
        for u in units:
            u = self._upcase.get(u, u)
            for b in (u & 0xFF, u >> 8):
                h = ((((h & 1) << 15) | (h >> 1)) + b) & 0xFFFF
        return h

    def _alloc(self, n: int) -> int:
        """First fit of ``n`` free contiguous clusters."""
        c, run, start = self._hint, 0, self._hint
        last = self.v.cluster_count + 1
        while c <= last:
            if self.v.in_use(c):
                run, start = 0, c + 1
            else:
                run += 1
                if run == n:
                    self.v.set_bits(range(start, start + n), True, flush=False)
                    self._hint = start + n
                    return start
            c += 1
        raise FsError(f"no {n} contiguous free clusters left")

    def _dir_state(self, d: Entry) -> tuple[list[int], int, Entry | None]:
        st = self._dirs.get(d.first_cluster)
        if st is None:
            clusters = self.v.chain(d, self.v.cluster_count)
            used = 0
            for i, (_off, slot) in enumerate(self.v.iter_dir_bytes(d, len(clusters) * self.v.cluster_size)):
                if slot[0] != 0:
                    used = i + 1
            st = (clusters, used, None if d.first_cluster == self.v.root_cluster else d)
            self._dirs[d.first_cluster] = st
        return st

    def _slot_offset(self, clusters: list[int], index: int) -> int:
        per = self.v.cluster_size // 32
        return self.v.cluster_offset(clusters[index // per]) + (index % per) * 32

    def _extend(self, key: int) -> None:
        clusters, used, own = self._dirs[key]
        new = self._alloc(1)
        self.v.device.pwrite(self.v.cluster_offset(new), bytes(self.v.cluster_size))
        fat = self.v.fat()
        links = [*clusters, new]
        chained = own is None or not self._contiguous(own)
        # A FAT-chained directory needs only its last link changed; a contiguous one gets a chain.
        changed = links[-2:] if chained else links
        for a, b in itertools.pairwise(links):
            fat[a] = b
        fat[new] = _EOC
        for c in changed:
            self.v.device.pwrite(self.v.fat_offset + c * 4, struct.pack("<I", fat[c]))
        if own is not None:
            # The directory now uses the FAT (NoFatChain off) and is one cluster longer.
            raw = bytearray(b"".join(self.v.device.pread(o, 32) for o in own.slots))
            raw[32 + 1] = F_ALLOC_POSSIBLE
            size = len(links) * self.v.cluster_size
            struct.pack_into("<Q", raw, 32 + 8, size)
            struct.pack_into("<Q", raw, 32 + 24, size)
            struct.pack_into("<H", raw, 2, set_checksum(bytes(raw)))
            for i, o in enumerate(own.slots):
                self.v.device.pwrite(o, bytes(raw[i * 32 : i * 32 + 32]))
        self._dirs[key] = (links, used, own)

    def _contiguous(self, own: Entry) -> bool:
        return bool(self.v.device.pread(own.slots[1] + 1, 1)[0] & F_NO_FAT_CHAIN)

    def _add_entry(self, parent: Entry, name: str, attr: int, first: int, size: int, when: datetime | None) -> Entry:
        raw_name = name.encode("utf-16-le", "surrogatepass")  # lone surrogates allowed: tests need them
        units = list(struct.unpack(f"<{len(raw_name) // 2}H", raw_name))
        if not 1 <= len(units) <= 255:
            raise FsError("exFAT names are 1 to 255 UTF-16 units")
        n_names = -(-len(units) // 15)
        stamp, ten_ms = _stamp(when or datetime.now(UTC))
        file = bytearray(32)
        file[0], file[1] = T_FILE, 1 + n_names
        struct.pack_into("<HHIII", file, 4, attr, 0, stamp, stamp, stamp)
        file[20], file[21], file[22], file[23], file[24] = ten_ms, ten_ms, 0x80, 0x80, 0x80
        stream = bytearray(32)
        stream[0] = T_STREAM
        stream[1] = F_ALLOC_POSSIBLE | (F_NO_FAT_CHAIN if first else 0)
        stream[3] = len(units)
        struct.pack_into("<H", stream, 4, self._name_hash(units))
        struct.pack_into("<Q", stream, 8, size)
        struct.pack_into("<IQ", stream, 20, first, size)
        names = []
        padded = [*units, *([0] * (n_names * 15 - len(units)))]
        for i in range(n_names):
            e = bytearray(32)
            e[0] = T_NAME
            struct.pack_into("<15H", e, 2, *padded[i * 15 : i * 15 + 15])
            names.append(bytes(e))
        entry_set = bytearray(bytes(file) + bytes(stream) + b"".join(names))
        struct.pack_into("<H", entry_set, 2, set_checksum(bytes(entry_set)))
        key = parent.first_cluster
        clusters, used, own = self._dir_state(parent)
        need = 2 + n_names
        while used + need > len(clusters) * (self.v.cluster_size // 32):
            self._extend(key)
            clusters, used, own = self._dirs[key]
        offsets = tuple(self._slot_offset(clusters, used + i) for i in range(need))
        for i, off in enumerate(offsets):
            self.v.device.pwrite(off, bytes(entry_set[i * 32 : i * 32 + 32]))
        self._dirs[key] = (clusters, used + need, own)
        return Entry(
            name=name, shown=name, is_dir=bool(attr & ATTR_DIRECTORY), size=size, first_cluster=first,
            contiguous=bool(first), created=when, modified=when, attributes=attr, slots=offsets,
        )


def _stamp(when: datetime) -> tuple[int, int]:
    t = when.astimezone(UTC) if when.tzinfo else when
    date = ((t.year - 1980) << 9) | (t.month << 5) | t.day
    time = (t.hour << 11) | (t.minute << 5) | (t.second // 2)
    return (date << 16) | time, (t.second % 2) * 100 + t.microsecond // 10000
