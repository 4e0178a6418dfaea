"""Append-only, hash-chained audit log (one canonical JSON object per line).

Each entry carries the SHA-256 of the previous entry, so editing, deleting or reordering any
entry breaks the chain. The newest entry's seq and hash are also anchored in the journal, which
catches a truncated tail. Entries say who did what, when, why, to which device, with what result:
what an AVG audit (and the municipality's privacy officer) asks of footage handling.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.crypto.canonical import canonical_json, canonical_json_v1
from station.timeutil import iso, utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64

# The daemon itself, as opposed to a named officer or staff member.
SYSTEM = "system"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str
    who: str
    what: str
    why: str
    device: str
    result: str
    details: Mapping[str, Any]
    prev: str
    hash: str


def _entry_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(body))).hexdigest()


def _hash_matches(body: Mapping[str, Any], claimed: object) -> bool:
    """New entries hash their RFC 8785 form; entries written before it hashed Python's sorted-keys form (which
    differs for numbers like 0.0): both are accepted, so an older log still verifies after an update."""
    if _entry_hash(body) == claimed:
        return True
    return hashlib.sha256(canonical_json_v1(dict(body))).hexdigest() == claimed


def _seq_hash(obj: Mapping[str, Any]) -> tuple[int, str]:
    return int(obj["seq"]), str(obj["hash"])


def _tail_problem(tail: bytes, seq: int, head: str, anchored: tuple[int, str] | None) -> str | None:
    """Why the bytes after the last newline are not the next entry, or None when they are."""
    try:
        obj = json.loads(tail)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "incomplete"
    if not isinstance(obj, dict) or "hash" not in obj:
        return "not an entry"
    body = {k: v for k, v in obj.items() if k != "hash"}
    if not _hash_matches(body, obj["hash"]):
        return "content does not match its hash"
    if obj.get("seq") != seq + 1 or obj.get("prev") != head:
        return "does not chain to the entry before it"
    if anchored is not None and anchored[0] == seq + 1 and anchored[1] != obj["hash"]:
        return "differs from the entry the journal anchored"
    return None


def write_fsynced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True, kw_only=True)
class TailRepair:
    """What opening the log found after a crash at its very end, and what was done about it."""

    recovered: bool  # True: a complete entry lacked only its newline, which was restored
    seq: int  # the entry's sequence number (the one the torn bytes would have had)
    anchored: bool  # the journal had anchored this entry: it was acknowledged to the station
    aside: Path | None  # where torn bytes were set aside
    size: int
    reason: str

    def describe(self) -> str:
        if self.recovered:
            return f"audit entry {self.seq} was complete but lacked its final newline; recovered"
        what = "an entry the journal had anchored" if self.anchored else "a write that never completed"
        return f"torn audit entry {self.seq} ({what}: {self.reason}); {self.size} bytes set aside in {self.aside}"


class AuditLog:
    """Thread-safe appender. ``anchor`` persists (seq, hash) of the newest entry elsewhere;
    ``anchored`` is what it last persisted, to judge an incomplete last line on opening."""

    def __init__(self, path: Path, anchor: Callable[[int, str], None] | None = None,
                 anchored: tuple[int, str] | None = None) -> None:
        self.path = path
        self._anchor = anchor
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tail_repair: TailRepair | None = None
        self.head_prev = GENESIS  # the newest entry's link to the one before it, as found on opening
        self._seq, self._head = self._recover_tail(anchored)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._fd = fd
        repair = self.tail_repair
        if repair is not None:
            log.warning("%s: %s", path, repair.describe())
            self.append(who=SYSTEM, what="audit.tail_recovered" if repair.recovered else "audit.tail_set_aside",
                        why=repair.describe(), device=path.name, result="recovered" if repair.recovered else "torn",
                        details={"seq": repair.seq, "anchored": repair.anchored, "bytes": repair.size,
                                 "aside": repair.aside.name if repair.aside else None, "reason": repair.reason})

    def _recover_tail(self, anchored: tuple[int, str] | None) -> tuple[int, str]:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0, GENESIS
        last_good: bytes | None = None
        good_end = 0
        with self.path.open("rb") as fh:
            for line in fh:
                if line.endswith(b"\n"):
                    last_good = line
                    good_end = fh.tell()
        seq, head = (0, GENESIS) if last_good is None else _seq_hash(json.loads(last_good))
        if last_good is not None:
            self.head_prev = str(json.loads(last_good).get("prev", GENESIS))
        size = self.path.stat().st_size
        if good_end == size:
            return seq, head
        with self.path.open("rb") as fh:
            fh.seek(good_end)
            tail = fh.read()
        is_anchored = anchored is not None and anchored[0] == seq + 1
        problem = _tail_problem(tail, seq, head, anchored)
        if problem is None:
            # Complete, hash-valid, chained (and the anchored one, if anchored): only the newline
            # was lost in the crash. Dropping it would let the next entry take its number.
            with self.path.open("ab") as fh:
                fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            obj = json.loads(tail)
            self.head_prev = head
            self.tail_repair = TailRepair(recovered=True, seq=seq + 1, anchored=is_anchored, aside=None,
                                          size=len(tail), reason="complete entry")
            return _seq_hash(obj)
        # Truly torn: the write never completed. Keep its bytes aside for the record, then drop it.
        aside = self.path.with_name(f"{self.path.name}.torn-{good_end}")
        n = 1
        while aside.exists():
            aside, n = self.path.with_name(f"{self.path.name}.torn-{good_end}.{n}"), n + 1
        write_fsynced(aside, tail)
        with self.path.open("r+b") as fh:
            fh.truncate(good_end)
            os.fsync(fh.fileno())
        self.tail_repair = TailRepair(recovered=False, seq=seq + 1, anchored=is_anchored, aside=aside,
                                      size=len(tail), reason=problem)
        return seq, head

    @property
    def head(self) -> tuple[int, str]:
        return self._seq, self._head

    def append(
        self,
        *,
        who: str,
        what: str,
        why: str = "",
        device: str = "",
        result: str = "ok",
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        with self._lock:
            body: dict[str, Any] = {
                "seq": self._seq + 1,
                "ts": iso(utcnow()),
                "who": who,
                "what": what,
                "why": why,
                "device": device,
                "result": result,
                "details": dict(details or {}),
                "prev": self._head,
            }
            digest = _entry_hash(body)
            line = canonical_json({**body, "hash": digest}) + b"\n"
            os.write(self._fd, line)
            os.fsync(self._fd)
            self._seq, self._head = body["seq"], digest
            if self._anchor is not None:
                self._anchor(self._seq, digest)
            return AuditEntry(**{**body, "hash": digest})

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    problem: str = ""
    line: int = 0


def iter_entries(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            yield n, json.loads(raw)


def verify_chain(path: Path, anchor: tuple[int, str] | None = None) -> VerifyResult:
    """Check every entry's hash, the chain of ``prev`` links, sequence numbers and the anchor."""
    if not path.exists():
        return VerifyResult(False, 0, f"{path} does not exist")
    prev, seq, count = GENESIS, 0, 0
    recent: dict[int, str] = {}
    try:
        for n, obj in iter_entries(path):
            claimed = obj.pop("hash", None)
            if obj.get("seq") != seq + 1:
                return VerifyResult(False, count, f"entry {n}: sequence {obj.get('seq')} after {seq}", n)
            if obj.get("prev") != prev:
                return VerifyResult(False, count, f"entry {n}: does not chain to the entry before it", n)
            if not _hash_matches(obj, claimed):
                return VerifyResult(False, count, f"entry {n}: content does not match its hash", n)
            prev, seq, count = str(claimed), int(obj["seq"]), count + 1
            recent = {k: v for k, v in recent.items() if k >= seq - 1}
            recent[seq] = prev
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return VerifyResult(False, count, f"entry {count + 1}: not valid JSON ({exc})", count + 1)
    if anchor is not None:
        a_seq, a_hash = anchor
        if a_seq > seq:
            return VerifyResult(False, count, f"log ends at entry {seq} but the journal anchors entry {a_seq}")
        # The log may be one entry ahead of the anchor (crash between the two writes), not more.
        if a_seq < seq - 1:
            return VerifyResult(False, count, f"log has entries past the anchored entry {a_seq}")
        if a_seq > 0 and recent.get(a_seq) != a_hash:
            return VerifyResult(False, count, f"entry {a_seq} differs from the anchored hash")
    return VerifyResult(True, count)
