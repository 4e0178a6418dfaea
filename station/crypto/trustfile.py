"""Pinned station keys: which station id signs with which Ed25519 key, read from a trust file.

A manifest carries the key that signed it, so a signature alone proves nothing: anyone can edit
a manifest and sign it again with a new key. Checking against the key pinned for the station the
manifest names is what makes it evidence.

The file is one station per line, ``<station-id> ed25519:<base64>`` (``#`` starts a comment), the
same key text ``bodydock identity`` prints and ``bodydock-vault station add --key`` takes; or the
JSON list ``bodydock-vault station list --json`` prints (objects with ``id`` and ``public_key``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from station.crypto.keys import parse_public_key_text, public_key_text
from station.crypto.signed import ManifestError, open_manifest


class TrustFileError(ValueError):
    """The trust file cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PinnedStations:
    keys: Mapping[str, Ed25519PublicKey]

    def open_manifest(self, data: bytes) -> dict[str, Any]:
        """The manifest body, if it is signed by the key pinned for the station it names."""
        try:
            claimed = json.loads(data)["manifest"]["station"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"malformed manifest: no station named ({exc})") from None
        key = self.keys.get(str(claimed))
        if key is None:
            raise ManifestError(f"station {claimed!r} has no pinned key: not trusted")
        return open_manifest(data, trusted=key)


def parse_trust_file(text: str, source: str = "trust file") -> PinnedStations:
    pairs: list[tuple[str, str, str]] = []  # (station, key text, where)
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
            pairs = [(str(r["id"]), str(r["public_key"]), f"{source} entry {n}") for n, r in enumerate(rows, 1)]
        except (ValueError, KeyError, TypeError) as exc:
            raise TrustFileError(f"{source}: not a station list ({exc})") from None
    else:
        for n, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) != 2:
                raise TrustFileError(f"{source} line {n}: expected '<station-id> ed25519:<key>'")
            pairs.append((words[0], words[1], f"{source} line {n}"))
    keys: dict[str, Ed25519PublicKey] = {}
    for station, key_text, where in pairs:
        try:
            key = parse_public_key_text(key_text)
        except ValueError as exc:
            raise TrustFileError(f"{where}: {exc}") from None
        if station in keys and public_key_text(keys[station]) != public_key_text(key):
            raise TrustFileError(f"{where}: station {station} is pinned twice with different keys")
        keys[station] = key
    if not keys:
        raise TrustFileError(f"{source}: no station keys")
    return PinnedStations(keys=keys)


def load_trust_file(path: Path) -> PinnedStations:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrustFileError(f"{path}: {exc}") from None
    return parse_trust_file(text, str(path))
