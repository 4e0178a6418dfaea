"""The roster: who may take a camera, and how they prove it (badge UID, or personnel number + PIN).

Read from a YAML file on the dock, or fetched from the vault (signed by the municipality's
roster key, so a writable vault folder cannot add officers). The last good roster fetched from
the vault is cached in the journal: a dock that cannot reach the vault at shift change still
knows its officers. PIN hashes are never logged or shown; ``Officer.__repr__`` leaves them out.

File format::

    officers:
      - personnel_number: "100234"
        name: "A. de Vries"
        roles: [officer]            # officer | staff | admin
        badge_uid: "04A1B2C3D4E5F6" # optional: the RFID badge's UID as the reader types it
        pin_hash: "scrypt$ln=15,..." # optional: `bodydock roster hash-pin`
        camera: BWC-0001            # optional: the officer's own camera (policy "personal")
"""

from __future__ import annotations

import abc
import base64
import binascii
import enum
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.shift.pins import PinHashError, check_pin_hash

log = logging.getLogger(__name__)

MAX_ROSTER_BYTES = 4 * 1024 * 1024
SIGNATURE_SUFFIX = ".sig"


class RosterError(Exception):
    """The roster cannot be used (unreadable, malformed, badly signed); the message says why."""


class Role(enum.StrEnum):
    OFFICER = "officer"
    STAFF = "staff"
    ADMIN = "admin"


@dataclass(frozen=True)
class Officer:
    personnel_number: str
    name: str
    roles: frozenset[Role]
    badge_uid: str | None = None
    pin_hash: str | None = field(default=None, repr=False)
    camera: str | None = None  # own camera's serial, for the "personal" policy

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & {Role.STAFF, Role.ADMIN})


@dataclass(frozen=True)
class Roster:
    officers: tuple[Officer, ...]
    source: str
    sha256: str
    _by_number: Mapping[str, Officer] = field(default_factory=dict, repr=False, compare=False)
    _by_badge: Mapping[str, Officer] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, officers: tuple[Officer, ...], source: str, sha256: str) -> Roster:
        return cls(officers, source, sha256, {o.personnel_number: o for o in officers},
                   {o.badge_uid: o for o in officers if o.badge_uid})

    def by_number(self, personnel_number: str) -> Officer | None:
        return self._by_number.get(personnel_number.strip())

    def by_badge(self, uid: str) -> Officer | None:
        try:
            return self._by_badge.get(normalise_badge(uid))
        except ValueError:
            return None


EMPTY_ROSTER = Roster.of((), "none", "")

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["officers"],
    "properties": {
        "officers": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["personnel_number", "name", "roles"],
                "properties": {
                    "personnel_number": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,32}$"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 120},
                    "roles": {"type": "array", "minItems": 1, "uniqueItems": True,
                              "items": {"enum": [r.value for r in Role]}},
                    "badge_uid": {"type": "string", "minLength": 4, "maxLength": 64},
                    "pin_hash": {"type": "string"},
                    "camera": {"type": "string", "minLength": 1, "maxLength": 64},
                },
            },
        },
    },
}


def normalise_badge(uid: str) -> str:
    """Badge UIDs compare as upper-case hex without separators (readers type ``04:a1:..`` or ``04A1..``)."""
    text = "".join(ch for ch in uid.strip() if ch not in ":- ").upper()
    if not text or len(text) > 64 or not all(ch in "0123456789ABCDEF" for ch in text):
        raise ValueError("a badge UID is hexadecimal")
    return text


def parse_roster(data: bytes, source: str) -> Roster:
    if len(data) > MAX_ROSTER_BYTES:
        raise RosterError(f"{source}: roster is larger than {MAX_ROSTER_BYTES} bytes")
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RosterError(f"{source}: not a YAML roster: {exc}") from None
    problems = sorted(jsonschema.Draft202012Validator(_SCHEMA).iter_errors(doc), key=lambda e: list(e.path))
    if problems:
        # The offending value may be a PIN hash: name the place, never the value.
        first = problems[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top)"
        raise RosterError(f"{source}: {where}: {first.validator} check failed")
    officers: list[Officer] = []
    numbers: set[str] = set()
    badges: set[str] = set()
    for i, entry in enumerate(doc["officers"]):
        number = entry["personnel_number"]
        if number in numbers:
            raise RosterError(f"{source}: officers/{i}: personnel number {number} appears twice")
        numbers.add(number)
        badge = None
        if "badge_uid" in entry:
            try:
                badge = normalise_badge(entry["badge_uid"])
            except ValueError as exc:
                raise RosterError(f"{source}: officers/{i}/badge_uid: {exc}") from None
            if badge in badges:
                raise RosterError(f"{source}: officers/{i}: badge UID is used twice")
            badges.add(badge)
        pin_hash = entry.get("pin_hash")
        if pin_hash is not None:
            try:
                check_pin_hash(pin_hash)
            except PinHashError as exc:
                raise RosterError(f"{source}: officers/{i}/pin_hash: {exc}") from None
        officers.append(Officer(
            personnel_number=number, name=entry["name"], roles=frozenset(Role(r) for r in entry["roles"]),
            badge_uid=badge, pin_hash=pin_hash, camera=entry.get("camera"),
        ))
    return Roster.of(tuple(officers), source, hashlib.sha256(data).hexdigest())


# --- signatures for rosters kept in the vault ------------------------------------------------------


def sign_roster(data: bytes, key: Ed25519PrivateKey) -> bytes:
    """The detached signature file's content (base64 Ed25519 over the roster's exact bytes)."""
    return base64.b64encode(key.sign(data)) + b"\n"


def verify_roster(data: bytes, signature: bytes, key: Ed25519PublicKey, source: str) -> None:
    try:
        key.verify(base64.b64decode(signature.strip(), validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError):
        raise RosterError(f"{source}: signature does not verify with the configured roster key") from None


# --- sources ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterBytes:
    data: bytes
    signature: bytes | None
    source: str


class RosterSource(abc.ABC):
    description: str = ""

    @abc.abstractmethod
    def fetch(self) -> RosterBytes:
        """Read the roster (and its signature, if the source has one); RosterError on failure."""

    @abc.abstractmethod
    def check(self, raw: RosterBytes) -> Roster:
        """Verify and parse what ``fetch`` (or the journal cache) returned."""

    def changed(self) -> bool:
        """Cheap test whether a refresh could find something new (a local file's mtime)."""
        return True


class FileRosterSource(RosterSource):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file {path}"
        self._seen: tuple[int, int] | None = None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def changed(self) -> bool:
        return self._stamp() != self._seen

    def fetch(self) -> RosterBytes:
        stamp = self._stamp()
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise RosterError(f"{self.path}: {exc.strerror or exc}") from None
        self._seen = stamp
        return RosterBytes(data, None, str(self.path))

    def check(self, raw: RosterBytes) -> Roster:
        return parse_roster(raw.data, raw.source)


class VaultRosterSource(RosterSource):
    """``fetch_file(path)`` reads a small file from the vault (raises on any failure)."""

    def __init__(self, fetch_file: Callable[[str], bytes], path: str, key: Ed25519PublicKey) -> None:
        self._fetch_file, self.path, self.key = fetch_file, path, key
        self.description = f"vault {path}"

    def fetch(self) -> RosterBytes:
        try:
            data = self._fetch_file(self.path)
            signature = self._fetch_file(self.path + SIGNATURE_SUFFIX)
        except Exception as exc:
            raise RosterError(f"vault {self.path}: cannot fetch: {exc}") from None
        return RosterBytes(data, signature, f"vault:{self.path}")

    def check(self, raw: RosterBytes) -> Roster:
        if raw.signature is None:
            raise RosterError(f"{raw.source}: no signature")
        verify_roster(raw.data, raw.signature, self.key, raw.source)
        return parse_roster(raw.data, raw.source)


class RosterCache(abc.ABC):
    """Where the last good fetched roster is kept (the journal)."""

    @abc.abstractmethod
    def load_roster(self) -> RosterBytes | None: ...

    @abc.abstractmethod
    def save_roster(self, raw: RosterBytes, sha256: str) -> None: ...


class RosterKeeper:
    """Holds the current roster; refreshes it in the background and keeps the last good one.

    ``on_change(roster)`` and ``on_problem(message)`` report to the audit log and alerts.
    """

    def __init__(
        self,
        source: RosterSource,
        *,
        cache: RosterCache | None = None,
        refresh_s: float = 60.0,
        on_change: Callable[[Roster], None] | None = None,
        on_problem: Callable[[str | None], None] | None = None,
    ) -> None:
        self.source, self._cache, self.refresh_s = source, cache, refresh_s
        self._on_change, self._on_problem = on_change, on_problem
        self._lock = threading.Lock()
        self._roster = EMPTY_ROSTER
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current(self) -> Roster:
        with self._lock:
            return self._roster

    def start(self) -> None:
        if not self.refresh():
            self._from_cache()
        self._thread = threading.Thread(target=self._run, name="roster", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def refresh(self) -> bool:
        """Fetch and install the roster if it changed; False (and the old one kept) on failure."""
        try:
            raw = self.source.fetch()
            roster = self.source.check(raw)
        except RosterError as exc:
            log.warning("roster not refreshed: %s", exc)
            if self._on_problem is not None:
                self._on_problem(str(exc))
            return False
        if self._cache is not None and raw.signature is not None:
            self._cache.save_roster(raw, roster.sha256)
        self._install(roster)
        if self._on_problem is not None:
            self._on_problem(None)
        return True

    def _from_cache(self) -> None:
        raw = self._cache.load_roster() if self._cache is not None else None
        if raw is None:
            return
        try:
            roster = self.source.check(raw)
        except RosterError as exc:
            log.error("cached roster refused: %s", exc)
            return
        self._install(roster)

    def _install(self, roster: Roster) -> None:
        with self._lock:
            changed = roster.sha256 != self._roster.sha256
            self._roster = roster
        if changed:
            log.info("roster %s: %d officers", roster.source, len(roster.officers))
            if self._on_change is not None:
                self._on_change(roster)

    def _run(self) -> None:
        # A local file is checked often (a stat); anything else at the configured interval.
        step = min(self.refresh_s, 2.0) if isinstance(self.source, FileRosterSource) else self.refresh_s
        while not self._stop.wait(step):
            try:
                if self.source.changed():
                    self.refresh()
            except Exception:
                log.exception("roster refresh failed")
