"""The Debian mirror this machine's apt uses, read at build time (no registry host in the repository)."""

from __future__ import annotations

import re
from pathlib import Path

APT = Path("/etc/apt")


def _deb822(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                stanzas.append(cur)
            cur = {}
            continue
        if line.startswith("#"):
            continue
        key, _, value = line.partition(":")
        if value:
            cur[key.strip().lower()] = value.strip()
    if cur:
        stanzas.append(cur)
    return stanzas


def debian_mirror(apt: Path = APT) -> str:
    """The URI of the first enabled source carrying Debian's main archive (not -security)."""
    candidates: list[str] = []
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for s in _deb822(path.read_text()):
            if s.get("enabled", "yes") == "no" or "deb" not in s.get("types", "").split():
                continue
            suites = s.get("suites", "").split()
            if any(not x.endswith("-security") for x in suites) and "main" in s.get("components", "").split():
                candidates += s.get("uris", "").split()
    lists = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for path in lists:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            m = re.match(r"^deb\s+(\[[^]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line.strip())
            if m and not m.group(3).endswith("-security") and "main" in m.group(4).split():
                candidates.append(m.group(2))
    debian = [u for u in candidates if "debian" in u and "security" not in u]
    if not debian:
        raise SystemExit("no Debian archive found in this machine's apt sources (/etc/apt)")
    return debian[0].rstrip("/")


if __name__ == "__main__":
    print(debian_mirror())
