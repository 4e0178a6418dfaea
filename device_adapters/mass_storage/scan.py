"""Walk a camera's storage without trusting it: what is a recording, what is refused and why.

The policy lives here, apart from the file-system parsers: a name that could leave the folder
or confuse a report, a link, a special file, an impossible size, a broken or shared cluster
chain, or more entries than a camera ever writes, becomes a :class:`Finding`. Findings are
never offloaded and block the wipe until staff have dealt with the camera.

The walk covers the whole card, not just the recording folders (``Layout``): every file is a
recording (below a root, with a recording extension), declared non-footage (the adapter's
``non_footage`` patterns), or a finding; the whole-card account (``account.py``) then proves that
every allocated cluster belongs to exactly one of them, a directory, or the file system's own
structures. The walk is iterative: a crafted card nests directories as deep as it likes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from device_adapters.api import Finding, camera_path_matches
from device_adapters.mass_storage.account import Account
from device_adapters.mass_storage.fs.base import ATTR_SYSTEM, Entry, FsError, Volume

DEFAULT_ROOTS = ("DCIM",)
DEFAULT_EXTENSIONS = ("mp4", "mov", "avi", "mkv", "ts", "jpg", "jpeg", "wav", "aac", "m4a")
# Deepest nesting the ``max_depth`` option may ask for (a camera writes DCIM/100BODY/...).
MAX_DEPTH_BOUND = 64
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

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= MAX_DEPTH_BOUND:
            raise ValueError(f"max_depth must be 1 to {MAX_DEPTH_BOUND}, not {self.max_depth}")
        for name in ("max_entries_per_dir", "max_entries_total", "max_recordings", "max_recording_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """Where a camera keeps what: recording folders and extensions, declared non-footage."""

    roots: tuple[str, ...] = DEFAULT_ROOTS
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    non_footage: tuple[str, ...] = ()

    def verdict(self, key: str) -> str | None:
        """None for a recording, "" for declared non-footage, else why the file is a finding."""
        parts = key.split("/")
        name = parts[-1]
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        in_root = len(parts) > 1 and parts[0].casefold() in {r.casefold() for r in self.roots}
        exts = {e.lower() for e in self.extensions}
        if in_root and ext in exts:
            return None
        if len(parts) == 1 and name.casefold() in {r.casefold() for r in self.roots}:
            return "should be the folder the camera records into, but is a file"
        if any(camera_path_matches(p, key) for p in self.non_footage):
            return ""
        folders = "/".join(self.roots)
        if ext in exts:
            return f"looks like a recording but lies outside {folders}; not offloaded"
        if in_root:
            what = f"extension '.{ext}'" if ext else "no extension"
            return f"not a recording ({what}) and not declared non-footage; not offloaded"
        return f"neither a recording in {folders} nor declared non-footage; not offloaded"


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
    # The findings about the card as a whole (cross-links, lost clusters, allocation that does
    # not match the tree): what a mounted tree cannot show, also included in ``findings``.
    card_findings: tuple[Finding, ...] = ()


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
    layout: Layout
    limits: Limits
    account: Account
    recordings: list[Found] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seen: int = 0
    # False once part of the tree was not examined: lost clusters then prove nothing.
    complete: bool = True
    dirs_seen: set[int] = field(default_factory=set)

    def refuse(self, path: str, problem: str) -> None:
        self.findings.append(Finding(path=path, problem=problem))

    def run(self) -> None:
        root = self.volume.root()
        self.dirs_seen.add(root.first_cluster)
        stack: list[tuple[Entry, str, int]] = [(root, "", 0)]
        while stack:
            directory, path, depth = stack.pop()
            subdirs = self._directory(directory, path, depth)
            if subdirs is None:
                return
            stack.extend(reversed(subdirs))

    def _directory(self, directory: Entry, path: str, depth: int) -> list[tuple[Entry, str, int]] | None:
        """The subdirectories to walk next; None when the walk must stop."""
        shown_dir = path + "/"
        try:
            listing = self.volume.list_dir(directory, self.limits.max_entries_per_dir)
        except FsError as exc:
            self.refuse(shown_dir, f"directory cannot be read: {exc}")
            self.complete = False
            return []
        if directory.slots:  # the root's clusters are claimed as file-system metadata
            self._claim_dir(directory, shown_dir)
        if listing.truncated:
            self.refuse(shown_dir, f"directory holds more than {self.limits.max_entries_per_dir} entries; not examined")
            self.complete = False
            return []
        names: set[str] = set()
        subdirs: list[tuple[Entry, str, int]] = []
        for entry in listing.entries:
            self.seen += 1
            if self.seen > self.limits.max_entries_total:
                limit = self.limits.max_entries_total
                self.refuse(shown_dir, f"more than {limit} entries on the camera; stopped looking")
                self.complete = False
                return None
            shown = f"{path}/{entry.shown}" if path else entry.shown
            problem = entry.problem or name_problem(entry.name)
            if problem is None:
                assert entry.name is not None
                if entry.name.casefold() in names:
                    problem = "a second entry with the same name (names are case-insensitive)"
                names.add(entry.name.casefold())
            if problem:
                self.refuse(shown + ("/" if entry.is_dir else ""), problem)
                if entry.is_dir:
                    self.complete = False  # its contents stay unexamined
                else:
                    self._claim_refused(entry, shown)
                continue
            key = f"{path}/{entry.name}" if path else str(entry.name)
            if entry.is_dir:
                if depth + 1 > self.limits.max_depth:
                    self.refuse(key + "/", f"directories nested deeper than {self.limits.max_depth}; not examined")
                    self.complete = False
                elif entry.first_cluster == 0 or entry.first_cluster in self.dirs_seen:
                    # Its clusters are someone else's: not claimed, or it would look cross-linked.
                    self.refuse(key + "/", "directory is linked from another place (a loop or hard link)")
                else:
                    self.dirs_seen.add(entry.first_cluster)
                    subdirs.append((entry, key, depth + 1))
            else:
                self._file(entry, key)
        return subdirs

    def _claim_dir(self, directory: Entry, shown: str) -> None:
        try:
            self.account.claim(shown, self.volume.chain(directory, self.volume.cluster_count))
        except FsError as exc:  # list_dir read it, so this is only a belt-and-braces check
            self.refuse(shown, f"directory cannot be read: {exc}")
            self.complete = False

    def _claim_refused(self, entry: Entry, shown: str) -> None:
        """A refused file still owns its clusters (when they can be found): not lost, and a
        recording cross-linked into them is still caught."""
        if entry.first_cluster == 0:
            return
        try:
            self.account.claim(shown, self.volume.chain(entry, self.volume.cluster_count))
        except FsError:
            # At least the first cluster: the one a driver deleting the entry would free.
            if 2 <= entry.first_cluster <= self.volume.cluster_count + 1:
                self.account.claim(shown, [entry.first_cluster])

    def _file(self, entry: Entry, key: str) -> None:
        if entry.attributes & ATTR_SYSTEM and _is_link(self.volume, entry):
            self.refuse(key, "symbolic link (stored the Cygwin/Interix way); links are not followed")
            self._claim_refused(entry, key)
            return
        verdict = self.layout.verdict(key)
        if verdict is None and entry.size > self.limits.max_recording_bytes:
            self.refuse(key, f"size {entry.size} bytes is more than a recording can be")
            self._claim_refused(entry, key)
            return
        try:
            clusters = self.volume.file_clusters(entry)
        except FsError as exc:
            self.refuse(key, f"file data cannot be located: {exc}")
            self._claim_refused(entry, key)
            return
        self.account.claim(key, clusters)
        if verdict:
            self.refuse(key, verdict)
            return
        if verdict == "":
            return  # declared non-footage: known, kept, never offloaded
        if len(self.recordings) >= self.limits.max_recordings:
            self.refuse(key, f"more than {self.limits.max_recordings} recordings; not listed")
            return
        self.recordings.append(Found(key=key, entry=entry, runs=tuple(self.volume.runs(entry, clusters))))


def _is_link(volume: Volume, entry: Entry) -> bool:
    if not 8 <= entry.size <= 4096:
        return False
    try:
        head = volume.read_runs(volume.runs(entry), 0, min(entry.size, 10))
    except FsError:
        return False
    return head.startswith(_LINK_MAGIC)


def scan(volume: Volume, roots: Iterable[str], extensions: Iterable[str], limits: Limits,
         non_footage: Iterable[str] = ()) -> Scan:
    """Every recording on the card, everything refused, and the whole-card account."""
    layout = Layout(roots=tuple(roots), extensions=tuple(e.lower() for e in extensions),
                    non_footage=tuple(non_footage))
    account = Account(volume)
    walk = _Walk(volume, layout, limits, account)
    card: list[Finding] = list(account.claim_metadata())
    walk.run()
    card += account.conflicts()
    if walk.complete:
        card += account.check_allocation()
    # A recording that shares a cluster with anything else cannot be trusted: not offloaded.
    crossed = account.crossed()
    recordings = [r for r in walk.recordings if r.key not in crossed]
    findings = walk.findings + card
    return Scan(tuple(recordings), tuple(findings), walk.seen, tuple(card))
