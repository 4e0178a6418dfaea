"""The one cluster-chain walk under both file systems: each keeps its own end-of-chain, bad and
free values and messages; loops, links out of the volume and over-long chains are refused alike."""

from __future__ import annotations

import pytest

from device_adapters.mass_storage.fs import exfat, fat32
from device_adapters.mass_storage.fs.base import FsError
from device_adapters.mass_storage.fs.chain import LinkRules, walk_chain

COUNT = 6  # clusters 2..7


def walk(rules: LinkRules, links: dict[int, int], limit: int = 10) -> list[int] | str:
    fat = [0] * (COUNT + 2)
    for c, nxt in links.items():
        fat[c] = nxt
    try:
        return walk_chain(fat, 2, rules=rules, cluster_count=COUNT, limit=limit, shown="clip")
    except FsError as exc:
        return str(exc).removeprefix("cluster chain of 'clip' ")


@pytest.mark.parametrize(("rules", "links", "want"), [
    (exfat._LINKS, {2: 4, 4: 3, 3: 0xFFFFFFFF}, [2, 4, 3]),
    (fat32._LINKS, {2: 4, 4: 3, 3: 0x0FFFFFF8}, [2, 4, 3]),
    (fat32._LINKS, {2: 0xF0000003, 3: 0xFFFFFFFF}, [2, 3]),  # FAT32's top four bits are not the link
    (exfat._LINKS, {2: 3, 3: 0xFFFFFFF7}, "is broken at cluster 3"),
    (exfat._LINKS, {2: 3, 3: 0}, "is broken at cluster 3"),
    (exfat._LINKS, {2: 1}, "is broken at cluster 2"),
    (fat32._LINKS, {2: 3, 3: 0x0FFFFFF7}, "runs into a bad cluster"),
    (fat32._LINKS, {2: 3, 3: 0}, "runs into a free cluster"),
    (fat32._LINKS, {2: 1}, "leaves the volume (cluster 1)"),
    (exfat._LINKS, {2: 3, 3: 2}, "loops back to cluster 2"),
    (fat32._LINKS, {2: 3, 3: 3}, "loops back to cluster 3"),
    (exfat._LINKS, {2: 9}, "leaves the volume (cluster 9)"),
    (fat32._LINKS, {2: 0x0FFFFFF6}, "leaves the volume (cluster 268435446)"),
])
def test_links(rules: LinkRules, links: dict[int, int], want: list[int] | str) -> None:
    assert walk(rules, links) == want


def test_longer_than_the_size_allows() -> None:
    links = {2: 3, 3: 4, 4: 0x0FFFFFFF}
    assert walk(fat32._LINKS, links, limit=3) == [2, 3, 4]
    assert walk(fat32._LINKS, links, limit=2) == "is longer than its size allows"
