"""The cluster-chain walk FAT32 and exFAT share: follow an entry's links through the FAT.

What a FAT entry means differs (FAT32 keeps 4 reserved bits, the two use other end-of-chain and
bad-cluster values and name a broken link differently), so each file system passes its own
``LinkRules``; the walk itself refuses, for both alike, a link out of the volume, a loop (a chain
that comes back to a cluster it already passed, e.g. cross-linked into itself) and a chain longer
than the entry's size allows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from device_adapters.mass_storage.fs.base import FsError


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRules:
    """How one file system's FAT entries read as links."""

    mask: int  # the bits of an entry that hold the link
    end: int  # a link at or above this ends the chain
    # (link, cluster it was read from) -> why the chain is broken there, completing "cluster chain
    # of 'name' ..."; None for a link to follow (the walk still checks it is inside the volume).
    broken: Callable[[int, int], str | None]


def walk_chain(fat: Sequence[int], first: int, *, rules: LinkRules, cluster_count: int, limit: int,
               shown: str) -> list[int]:
    """The clusters from ``first`` (a cluster, not 0) to the end-of-chain mark, at most ``limit``
    of them; FsError naming ``shown`` otherwise."""
    out: list[int] = []
    seen: set[int] = set()
    c = first
    while True:
        if not 2 <= c <= cluster_count + 1:
            raise FsError(f"cluster chain of {shown!r} leaves the volume (cluster {c})")
        if c in seen:
            raise FsError(f"cluster chain of {shown!r} loops back to cluster {c}")
        seen.add(c)
        out.append(c)
        if len(out) > limit:
            raise FsError(f"cluster chain of {shown!r} is longer than its size allows")
        nxt = fat[c] & rules.mask
        if nxt >= rules.end:
            return out
        why = rules.broken(nxt, c)
        if why is not None:
            raise FsError(f"cluster chain of {shown!r} {why}")
        c = nxt
