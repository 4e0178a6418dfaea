"""The dock's signed audit segments, checked on their own.

A segment is a run of whole audit-log lines plus a manifest signed with the station key naming
its range, SHA-256 and where the chain enters and leaves it. Each one is checked here
(signature, size, hash, every line's hash and ``prev`` link, sequence, the named ends); how the
segments of a station fit together (gaps, forks, reordering) is checked in ``reconcile``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from station.crypto.canonical import canonical_json, canonical_json_v1

SEGMENT_KIND = "audit-segment"


class SegmentError(Exception):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedSegment:
    first_seq: int
    last_seq: int
    first_prev: str
    last_hash: str
    first_ts: str
    last_ts: str
    sha256: str
    offloads: list[tuple[str, int, str]]  # (recording id, seq, ts) of "recording.offloaded" entries


def _line_hash_ok(obj: dict[str, Any], claimed: object) -> bool:
    # Docks hash their lines in RFC 8785 form; lines written before that switch used the older
    # canonical form. Both name the same JSON value, so either proves the line unchanged.
    return any(hashlib.sha256(c(obj)).hexdigest() == claimed for c in (canonical_json, canonical_json_v1))


def check_segment(body: dict[str, Any], data: bytes) -> CheckedSegment:
    """``body`` is the verified manifest body, ``data`` the segment file's bytes."""
    try:
        first_seq, last_seq = int(body["first_seq"]), int(body["last_seq"])
        expected = (str(body["sha256"]), int(body["size"]), int(body["entries"]))
        first_prev, last_hash = str(body["first_prev"]), str(body["last_hash"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SegmentError(f"segment manifest incomplete: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != expected[1]:
        raise SegmentError(f"segment is {len(data)} bytes, its manifest says {expected[1]}")
    if digest != expected[0]:
        raise SegmentError("segment SHA-256 does not match its manifest")
    prev, seq = first_prev, first_seq - 1
    offloads: list[tuple[str, int, str]] = []
    lines = data.splitlines()
    first_ts = last_ts = ""
    for n, raw in enumerate(lines, start=1):
        try:
            obj = json.loads(raw)
        except ValueError:
            raise SegmentError(f"line {n} is not JSON") from None
        claimed = obj.pop("hash", None)
        if obj.get("seq") != seq + 1:
            raise SegmentError(f"line {n}: sequence {obj.get('seq')} after {seq} (lines missing or reordered)")
        if obj.get("prev") != prev:
            raise SegmentError(f"line {n}: does not chain to the line before (reordered or edited)")
        if not _line_hash_ok(obj, claimed):
            raise SegmentError(f"line {n}: content does not match its hash (edited)")
        prev, seq = str(claimed), seq + 1
        first_ts = first_ts or str(obj.get("ts"))
        last_ts = str(obj.get("ts"))
        details = obj.get("details") or {}
        if obj.get("what") == "recording.offloaded" and isinstance(details, dict) and details.get("recording"):
            offloads.append((str(details["recording"]), seq, last_ts))
    if len(lines) != expected[2] or seq != last_seq:
        raise SegmentError(f"segment holds entries {first_seq}..{seq}, its manifest says ..{last_seq}")
    if prev != last_hash:
        raise SegmentError("segment's last entry does not match its manifest's last_hash")
    return CheckedSegment(first_seq=first_seq, last_seq=last_seq, first_prev=first_prev, last_hash=last_hash,
                          first_ts=first_ts, last_ts=last_ts, sha256=digest, offloads=offloads)
