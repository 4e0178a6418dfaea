"""The vault's hash-chained logs: the access log (who opened, held, handed over or withdrew
which recording, for which purpose; refusals too) and the vault audit log (intake, quarantine,
retention deletions, reconcile).

One JSON object per line in RFC 8785 form, each carrying the SHA-256 of the line before it,
fsynced before the call returns: a viewing is on disk before anything is decrypted. The newest
(seq, hash) is also anchored in the catalog, which catches a truncated tail. Editing, removing
or reordering a line breaks the chain (``verify``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.crypto.canonical import canonical_json
from station.timeutil import iso, utcnow

GENESIS = "0" * 64
_TAIL_BLOCK = 64 * 1024


def entry_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(body))).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    ok: bool
    entries: int
    problem: str = ""


class ChainLog:
    """Appender for one log file. ``anchor`` persists the newest (seq, hash) elsewhere."""

    def __init__(self, path: Path, anchor: Callable[[int, str], None] | None = None) -> None:
        self.path = path
        self._anchor = anchor
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # no other process is mid-append while we look
        try:
            self._drop_torn_tail()
            self._seq, self._head = self._last()
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _drop_torn_tail(self) -> None:
        # A line without its LF was never acknowledged (the process died mid-write): set it aside.
        if not self.path.exists():
            return
        size = self.path.stat().st_size
        if size == 0:
            return
        with self.path.open("rb") as fh:
            fh.seek(max(0, size - 1))
            if fh.read(1) == b"\n":
                return
            fh.seek(0)
            data = fh.read()
        good = data.rfind(b"\n") + 1
        self.path.with_name(f"{self.path.name}.torn-{good}").write_bytes(data[good:])
        with self.path.open("r+b") as fh:
            fh.truncate(good)
            os.fsync(fh.fileno())

    def _last(self) -> tuple[int, str]:
        tail = self.tail(1)
        if not tail:
            return 0, GENESIS
        return int(tail[-1]["seq"]), str(tail[-1]["hash"])

    @property
    def head(self) -> tuple[int, str]:
        return self._seq, self._head

    def tail(self, n: int) -> list[dict[str, Any]]:
        """The last ``n`` entries (oldest first), read backwards from the end of the file."""
        if n <= 0 or not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            data = b""
            pos = end
            while pos > 0 and data.count(b"\n") <= n:
                step = min(_TAIL_BLOCK, pos)
                pos -= step
                fh.seek(pos)
                data = fh.read(step) + data
        lines = data.splitlines()
        if pos > 0:
            lines = lines[1:]  # the first one may be cut
        return [json.loads(line) for line in lines[-n:]]

    def append(self, *, who: str, what: str, why: str = "", result: str = "ok",
               details: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.append_many([{"who": who, "what": what, "why": why, "result": result,
                                  "details": dict(details or {})}])[-1]

    def append_many(self, entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Append entries (who/what/why/result/details) with one write and one fsync."""
        with self._lock:
            # Several vault commands may run at once (the intake service, a viewing): the lock
            # and re-reading the head under it keep one chain.
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                return self._append_locked(entries)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _append_locked(self, entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        seq, head = self._last()
        ts = iso(utcnow())
        out: list[dict[str, Any]] = []
        lines: list[bytes] = []
        for e in entries:
            seq += 1
            body: dict[str, Any] = {"seq": seq, "ts": ts, "who": e["who"], "what": e["what"],
                                    "why": e.get("why", ""), "result": e.get("result", "ok"),
                                    "details": dict(e.get("details") or {}), "prev": head}
            head = entry_hash(body)
            body["hash"] = head
            lines.append(canonical_json(body) + b"\n")
            out.append(body)
        if not lines:
            return out
        data = memoryview(b"".join(lines))
        while data:
            data = data[os.write(self._fd, data) :]
        os.fsync(self._fd)
        self._seq, self._head = seq, head
        if self._anchor is not None:
            self._anchor(seq, head)
        return out

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)


def verify(path: Path, anchor: tuple[int, str] | None = None) -> VerifyResult:
    """Every entry's hash, the ``prev`` links, the sequence, and the anchored head."""
    if not path.exists():
        return VerifyResult(ok=anchor is None or anchor[0] == 0, entries=0,
                            problem="" if anchor is None or anchor[0] == 0 else f"{path} is missing")
    prev, seq = GENESIS, 0
    hashes: dict[int, tuple[str, str]] = {}
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return VerifyResult(ok=False, entries=seq, problem=f"line {n}: not valid JSON")
            claimed = obj.pop("hash", None) if isinstance(obj, dict) else None
            if not isinstance(obj, dict) or obj.get("seq") != seq + 1:
                return VerifyResult(ok=False, entries=seq, problem=f"line {n}: sequence breaks after {seq}")
            if obj.get("prev") != prev:
                return VerifyResult(ok=False, entries=seq, problem=f"line {n}: does not chain to the line before")
            if entry_hash(obj) != claimed:
                return VerifyResult(ok=False, entries=seq, problem=f"line {n}: content does not match its hash")
            prev, seq = str(claimed), seq + 1
            if anchor is not None and seq >= anchor[0]:
                hashes[seq] = (prev, str(obj.get("ts")))
    if anchor is not None and anchor[0] > 0:
        a_seq, a_hash = anchor
        if a_seq > seq:
            return VerifyResult(ok=False, entries=seq, problem=f"log ends at {seq}, the catalog anchors {a_seq}")
        # Entries past the anchor are a crash between the log write and the anchor update: then
        # they are one batch, written at once with one timestamp. Anything else was added later.
        if len({hashes[s][1] for s in range(a_seq + 1, seq + 1)}) > 1:
            return VerifyResult(ok=False, entries=seq, problem=f"entries past the anchored entry {a_seq}")
        if hashes.get(a_seq, ("", ""))[0] != a_hash:
            return VerifyResult(ok=False, entries=seq, problem=f"entry {a_seq} differs from the anchored hash")
    return VerifyResult(ok=True, entries=seq)
