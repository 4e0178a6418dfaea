"""Walk a camera's storage without trusting it: what is a recording, what is refused and why.

The policy lives here, apart from the file-system parsers: a name that could leave the folder
or confuse a report, a link, a special file, an impossible size, a broken or shared cluster
chain, or more entries than a camera ever writes, becomes a :class:`Finding`. Findings are
never offloaded and block the wipe until staff have dealt with the camera.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from device_adapters.api import Finding
from device_adapters.mass_storage.fs.base import ATTR_SYSTEM, Entry, FsError, Volume

DEFAULT_ROOTS = ("DCIM",)
DEFAULT_EXTENSIONS = ("mp4", "mov", "avi", "mkv", "ts", "jpg", "jpeg", "wav", "aac", "m4a")
# FAT-family names may not hold these; a crafted directory entry still can.
_FORBIDDEN = frozenset('"*/:<>?\\|')
# Symbolic links as Cygwin and Interix (Services for UNIX) store them on FAT: a system file
# starting with a magic string, followed by the target.
_LINK_MAGIC = (b"!<symlink>", b"IntxLNK\x01")


@dataclass(frozen=True)
class Limits:
    max_depth: int = 8
    max_entries_per_dir: int = 10_000
    max_entries_total: int = 50_000
    max_recordings: int = 10_000
    max_recording_bytes: int = 256 * 1024**3


@dataclass(frozen=True)
class Found:
    key: str  # POSIX path on the camera, e.g. "DCIM/100BODY/VID_0001.MP4"
    entry: Entry
    runs: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Scan:
    recordings: tuple[Found, ...]
    findings: tuple[Finding, ...]
    entries_seen: int


def name_problem(name: str | None, max_chars: int = 255) -> str | None:
    """Why a stored name is refused, or None if it is acceptable."""
    if name is None:
        return "name is not valid text (broken UTF-16, or non-ASCII bytes in an 8.3 name)"
    if name in ("", ".", ".."):
        return "name is empty or a path step ('.' / '..')"
    if "/" in name or "\\" in name:
        return "name contains a path separator (path traversal)"
    if len(name) > max_chars:
        return f"name is longer than {max_chars} characters"
    for ch in name:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return "name contains control characters"
        if ch in _FORBIDDEN:
            return f"name contains {ch!r}, which FAT does not allow"
        if unicodedata.category(ch) in ("Cf", "Cs", "Co", "Cn"):
            return f"name contains the invisible or unassigned character U+{ord(ch):04X}"
    if name != name.strip(" ") or name.endswith("."):
        return "name starts or ends with a space, or ends with a dot"
    return None


@dataclass
class _Walk:
    volume: Volume
    extensions: frozenset[str]
    limits: Limits
    recordings: list[Found] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seen: int = 0
    stopped: bool = False
    dirs_seen: set[int] = field(default_factory=set)
    # (start, end, owner) byte ranges of every recording and directory, to catch shared clusters.
    extents: list[tuple[int, int, str]] = field(default_factory=list)

    def refuse(self, path: str, problem: str) -> None:
        self.findings.append(Finding(path=path, problem=problem))

    def walk(self, directory: Entry, path: str, depth: int) -> None:
        if self.stopped:
            return
        try:
            listing = self.volume.list_dir(directory, self.limits.max_entries_per_dir)
            for start, length in _dir_extents(self.volume, directory):
                self.extents.append((start, start + length, path + "/"))
        except FsError as exc:
            self.refuse(path + "/", f"directory cannot be read: {exc}")
            return
        if listing.truncated:
            limit = self.limits.max_entries_per_dir
            self.refuse(path + "/", f"directory holds more than {limit} entries; not examined")
            return
        names: set[str] = set()
        for entry in listing.entries:
            if self.stopped:
                return
            self.seen += 1
            if self.seen > self.limits.max_entries_total:
                limit = self.limits.max_entries_total
                self.refuse(path + "/", f"more than {limit} entries on the camera; stopped looking")
                self.stopped = True
                return
            shown = f"{path}/{entry.shown}"
            if entry.problem:
                self.refuse(shown, entry.problem)
                continue
            problem = name_problem(entry.name)
            if problem:
                self.refuse(shown, problem)
                continue
            assert entry.name is not None
            folded = entry.name.casefold()
            if folded in names:
                self.refuse(shown, "a second entry with the same name (names are case-insensitive)")
                continue
            names.add(folded)
            key = f"{path}/{entry.name}" if path else entry.name
            if entry.is_dir:
                self._directory(entry, key, depth)
            else:
                self._file(entry, key)

    def _directory(self, entry: Entry, key: str, depth: int) -> None:
        if depth + 1 > self.limits.max_depth:
            self.refuse(key + "/", f"directories nested deeper than {self.limits.max_depth}; not examined")
            return
        if entry.first_cluster in self.dirs_seen or entry.first_cluster == 0:
            self.refuse(key + "/", "directory is linked from another place (a loop or hard link)")
            return
        self.dirs_seen.add(entry.first_cluster)
        self.walk(entry, key, depth + 1)

    def _file(self, entry: Entry, key: str) -> None:
        ext = entry.name.rsplit(".", 1)[-1].lower() if entry.name and "." in entry.name else ""
        if entry.attributes & ATTR_SYSTEM and _is_link(self.volume, entry):
            self.refuse(key, "symbolic link (stored the Cygwin/Interix way); links are not followed")
            return
        if ext not in self.extensions:
            return
        if entry.size > self.limits.max_recording_bytes:
            self.refuse(key, f"size {entry.size} bytes is more than a recording can be")
            return
        if entry.size > self.volume.cluster_count * self.volume.cluster_size:
            self.refuse(key, f"size {entry.size} bytes is larger than the whole card")
            return
        try:
            runs = tuple(self.volume.runs(entry))
        except FsError as exc:
            self.refuse(key, f"file data cannot be located: {exc}")
            return
        if len(self.recordings) >= self.limits.max_recordings:
            self.refuse(key, f"more than {self.limits.max_recordings} recordings; not listed")
            return
        self.recordings.append(Found(key=key, entry=entry, runs=runs))
        for start, length in runs:
            self.extents.append((start, start + length, key))

    def shared_clusters(self) -> None:
        """Two owners of the same bytes: neither can be trusted, both are refused."""
        self.extents.sort()
        bad: dict[str, str] = {}
        reach_end, reach_owner = -1, ""
        for start, end, owner in self.extents:
            if start < reach_end and owner != reach_owner:
                bad.setdefault(owner, reach_owner)
                bad.setdefault(reach_owner, owner)
            if end > reach_end:
                reach_end, reach_owner = end, owner
        if not bad:
            return
        kept = []
        for rec in self.recordings:
            if rec.key in bad:
                self.refuse(rec.key, f"shares storage with {bad[rec.key]} (cross-linked clusters)")
            else:
                kept.append(rec)
        self.recordings = kept


def _dir_extents(volume: Volume, directory: Entry) -> Iterable[tuple[int, int]]:
    if not directory.slots:  # the root: its clusters belong to no file
        return []
    clusters = volume.chain(directory, volume.cluster_count)
    return [(volume.cluster_offset(c), volume.cluster_size) for c in clusters]


def _is_link(volume: Volume, entry: Entry) -> bool:
    if not 8 <= entry.size <= 4096:
        return False
    try:
        head = volume.read_runs(volume.runs(entry), 0, min(entry.size, 10))
    except FsError:
        return False
    return head.startswith(_LINK_MAGIC)


def scan(volume: Volume, roots: Iterable[str], extensions: Iterable[str], limits: Limits) -> Scan:
    """Every recording under the configured top-level folders, and everything refused there."""
    walk = _Walk(volume, frozenset(e.lower() for e in extensions), limits)
    wanted = {r.casefold() for r in roots}
    top = volume.list_dir(volume.root(), limits.max_entries_per_dir)
    for entry in top.entries:
        if entry.is_dir and entry.name is not None and entry.name.casefold() in wanted and not entry.problem:
            if entry.first_cluster in walk.dirs_seen:
                walk.refuse(entry.shown + "/", "directory is linked from another place (a loop or hard link)")
                continue
            walk.dirs_seen.add(entry.first_cluster)
            walk.walk(entry, entry.name, 1)
    walk.shared_clusters()
    return Scan(tuple(walk.recordings), tuple(walk.findings), walk.seen)
