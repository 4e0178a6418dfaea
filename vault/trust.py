"""The trust store: which station id signs with which Ed25519 key.

A station is registered once, by an administrator who compares the fingerprint the dock prints
(``bodydock identity``) with the one shown here. Nothing from an unregistered station, or signed
with any other key, is accepted. Re-pinning a different key for a known id is refused: a dock
whose key changed is registered again under a new id or after ``station remove``.
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from station.crypto.keys import parse_public_key_text, public_key_text
from station.crypto.signed import key_fingerprint
from station.timeutil import iso, utcnow
from vault.catalog import AUDIT, Catalog

_STATION_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")


class TrustError(Exception):
    pass


def normalise_fingerprint(text: str) -> str:
    return re.sub(r"[^0-9a-f]", "", text.lower())


def add_station(cat: Catalog, station_id: str, key_text: str, *, by: str, fingerprint: str | None = None,
                note: str = "") -> str:
    """Pin ``key_text`` for ``station_id``; returns the fingerprint. ``fingerprint``, when
    given (as read from the dock), must match the key."""
    if not _STATION_ID.fullmatch(station_id):
        raise TrustError(f"{station_id!r} is not a station id (lowercase letters, digits, '-')")
    try:
        key = parse_public_key_text(key_text.strip())
    except ValueError as exc:
        raise TrustError(f"not a station public key: {exc}") from None
    fp = key_fingerprint(key)
    if fingerprint is not None and normalise_fingerprint(fingerprint) != normalise_fingerprint(fp):
        raise TrustError(f"fingerprint does not match the key (the key's fingerprint is {fp})")
    canonical = public_key_text(key)
    with cat.tx() as db:
        row = db.execute("SELECT public_key FROM stations WHERE id=?", (station_id,)).fetchone()
        if row is not None:
            if row["public_key"] == canonical:
                return fp
            raise TrustError(f"station {station_id} is already registered with another key")
        now = iso(utcnow())
        db.execute("INSERT INTO stations(id, public_key, fingerprint, added_at, added_by, note) VALUES (?,?,?,?,?,?)",
                   (station_id, canonical, fp, now, by, note))
        Catalog.queue_log(db, AUDIT, f"station.add:{station_id}:{canonical}", who=by, what="station.registered",
                          why=note, details={"station": station_id, "fingerprint": fp, "key": canonical})
    cat.flush_logs()
    return fp


def remove_station(cat: Catalog, station_id: str, *, by: str, reason: str) -> None:
    with cat.tx() as db:
        row = db.execute("SELECT public_key FROM stations WHERE id=?", (station_id,)).fetchone()
        if row is None:
            raise TrustError(f"station {station_id} is not registered")
        db.execute("DELETE FROM stations WHERE id=?", (station_id,))
        Catalog.queue_log(db, AUDIT, f"station.remove:{station_id}:{iso(utcnow())}", who=by,
                          what="station.removed", why=reason, details={"station": station_id,
                                                                       "key": row["public_key"]})
    cat.flush_logs()


def pinned_key(cat: Catalog, station_id: str) -> Ed25519PublicKey | None:
    row = cat.one("SELECT public_key FROM stations WHERE id=?", (station_id,))
    return None if row is None else parse_public_key_text(row["public_key"])


def stations(cat: Catalog) -> list[dict[str, str]]:
    return [dict(r) for r in cat.all("SELECT id, public_key, fingerprint, added_at, added_by, note FROM stations "
                                     "ORDER BY id")]
