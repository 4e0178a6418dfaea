"""The whole-card account: every allocated cluster belongs to exactly one owner, as fsck would check.

Owners are the file system's own structures (root directory, exFAT allocation bitmap and up-case
table), directories and files (recordings, declared non-footage, refused entries). Before a wipe
the adapter proves: no cluster has two owners (a cross-link: the wipe would free, and a scrub
zero, someone else's data), the FAT or bitmap marks exactly the owned clusters in use (nothing
lost, hidden or unmarked), and the FAT copies agree. Anything else is a finding.
"""

from __future__ import annotations

from collections.abc import Sequence

from device_adapters.api import Finding
from device_adapters.mass_storage.fs.base import FsError, Volume

CARD = "(card)"  # the path findings about the card as a whole are reported under
_MAX_CONFLICTS = 50  # owners looked up for cross-links; a card crossed more often is hostile anyway
_MAX_UNMARKED = 10


class Account:
    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        self.complete = True  # False once an owner could not be located
        self._owned = bytearray(volume.cluster_count + 2)
        self._owners: list[tuple[str, list[tuple[int, int]]]] = []
        self._pairs: list[tuple[str, str]] = []
        self._crossed: set[str] = set()

    def claim_metadata(self) -> list[Finding]:
        out: list[Finding] = []
        for shown, entry in self.volume.metadata():
            try:
                if entry.is_dir:
                    clusters = self.volume.chain(entry, self.volume.cluster_count)
                else:
                    clusters = self.volume.file_clusters(entry)
            except FsError as exc:
                out.append(Finding(path=shown, problem=f"file-system structure cannot be located: {exc}"))
                self.complete = False
                continue
            self.claim(shown, clusters)
        return out

    def claim(self, owner: str, clusters: Sequence[int]) -> None:
        runs = _runs(clusters)
        for a, b in runs:
            if self._owned.find(1, a, b) != -1:
                self._crossed.add(owner)
                if len(self._pairs) < _MAX_CONFLICTS:
                    other = self._owner_of(a, b)
                    self._crossed.add(other)
                    self._pairs.append((owner, other))
            self._owned[a:b] = b"\x01" * (b - a)
        self._owners.append((owner, runs))

    def _owner_of(self, a: int, b: int) -> str:
        for owner, runs in self._owners:
            if any(x < b and a < y for x, y in runs):
                return owner
        return "another entry"

    def crossed(self) -> set[str]:
        return set(self._crossed)

    def conflicts(self) -> list[Finding]:
        out: dict[tuple[str, str], Finding] = {}
        for one, other in self._pairs:
            for a, b in ((one, other), (other, one)):
                out.setdefault((a, b), Finding(path=a, problem=f"shares clusters with {b} (cross-linked)"))
        listed = {p for pair in self._pairs for p in pair}
        for owner in sorted(self._crossed - listed):
            out[(owner, "")] = Finding(path=owner, problem="shares clusters with another entry (cross-linked)")
        return list(out.values())

    def check_allocation(self) -> list[Finding]:
        """The allocation records against what the tree owns (call only after a complete walk)."""
        if not self.complete:
            return []
        out = [Finding(path=CARD, problem=p) for p in self.volume.allocation_problems()]
        alloc, owned = self.volume.allocation(), bytes(self._owned)
        if alloc == owned:
            return out
        lost, first_lost, unmarked = 0, -1, []
        step = 1 << 16
        for start in range(0, len(owned), step):
            if alloc[start : start + step] == owned[start : start + step]:
                continue
            for c in range(start, min(len(owned), start + step)):
                if alloc[c] and not owned[c]:
                    lost += 1
                    first_lost = c if first_lost < 0 else first_lost
                elif owned[c] and not alloc[c]:
                    unmarked.append(c)
        where = "allocation bitmap" if self.volume.fs_type == "exfat" else "FAT"
        if lost:
            out.append(Finding(path=CARD, problem=(
                f"{lost} cluster(s) the {where} marks in use belong to no file, folder or file-system "
                f"structure (first: cluster {first_lost}): lost clusters, a damaged folder, or data hidden "
                "from the folder tree")))
        shown: set[str] = set()
        for c in unmarked[:_MAX_UNMARKED]:
            owner = self._owner_of(c, c + 1)
            if owner not in shown:
                shown.add(owner)
                out.append(Finding(path=owner, problem=f"uses cluster {c}, which the {where} marks free"))
        if len(unmarked) > _MAX_UNMARKED:
            out.append(Finding(path=CARD, problem=f"{len(unmarked)} clusters in use are marked free in the {where}"))
        return out


def _runs(clusters: Sequence[int]) -> list[tuple[int, int]]:
    """Half-open [first, last + 1) runs of consecutive clusters."""
    runs: list[tuple[int, int]] = []
    for c in clusters:
        if runs and runs[-1][1] == c:
            runs[-1] = (runs[-1][0], c + 1)
        else:
            runs.append((c, c + 1))
    return runs
