"""The audit log goes to the vault in signed segments.

A segment is a closed range of whole lines of the audit log, copied byte for byte, plus a
manifest signed with the station key that names the range, its SHA-256 and the hashes where the
chain enters and leaves it. The vault can then check each segment on its own (signature, hash,
chain inside) and the segments together (each one's ``first_prev`` is the previous ``last_hash``).
The local audit log itself is never changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.crypto.signed import sign_manifest
from station.outbox.target import DeliveryItem
from station.storage.audit import GENESIS, AuditLog
from station.storage.journal import AuditSegmentRow, Journal, VaultStatus
from station.storage.store import write_durably
from station.timeutil import iso, parse_iso, utcnow

log = logging.getLogger(__name__)

SEGMENT_KIND = "audit-segment"
MAX_ENTRIES = 5000


class AuditSegmenter:
    def __init__(self, *, journal: Journal, audit: AuditLog, signing_key: Ed25519PrivateKey, station_id: str,
                 folder: Path, interval_s: float, max_entries: int = MAX_ENTRIES) -> None:
        self.journal, self.audit, self.key = journal, audit, signing_key
        self.station_id, self.folder = station_id, folder
        self.interval_s, self.max_entries = interval_s, max_entries

    def due(self) -> bool:
        """Unsent entries exist and the oldest is older than the interval (or there are many)."""
        last = self.journal.last_audit_segment()
        head_seq = self.audit.head[0]
        done = last.last_seq if last else 0
        if head_seq <= done:
            return False
        if head_seq - done >= self.max_entries:
            return True
        since = parse_iso(last.created_at) if last else None
        if since is None:
            first = self._first_entry_time(0)
            if first is None:
                return False
            since = first
        return (utcnow() - since).total_seconds() >= self.interval_s

    def _first_entry_time(self, offset: int) -> datetime | None:
        with self.audit.path.open("rb") as fh:
            fh.seek(offset)
            line = fh.readline()
        if not line.endswith(b"\n"):
            return None
        return parse_iso(json.loads(line)["ts"])

    def cut(self) -> AuditSegmentRow | None:
        """Close the entries written since the last segment into a new segment, if there are any."""
        last = self.journal.last_audit_segment()
        done = last.last_seq if last else 0
        prev_hash = self._last_hash(last)
        head_seq = self.audit.head[0]
        if head_seq <= done:
            return None
        start = last.end_offset if last else 0
        if start > self.audit.path.stat().st_size:
            start = 0  # the log is not the one we segmented before: find our place by sequence number
        lines: list[bytes] = []
        first: dict[str, object] | None = None
        last_entry: dict[str, object] | None = None
        end = start
        with self.audit.path.open("rb") as fh:
            fh.seek(start)
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # being written right now; it goes in the next segment
                entry = json.loads(line)
                seq = int(entry["seq"])
                if seq <= done:
                    end += len(line)
                    continue
                if seq > head_seq or len(lines) >= self.max_entries:
                    break
                first = first or entry
                last_entry = entry
                lines.append(line)
                end += len(line)
        if not lines or first is None or last_entry is None:
            return None
        data = b"".join(lines)
        first_seq, last_seq = int(str(first["seq"])), int(str(last_entry["seq"]))
        name = f"audit-{self.station_id}-{first_seq:09d}-{last_seq:09d}"
        digest = hashlib.sha256(data).hexdigest()
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.jsonl"
        write_durably(path, data)
        manifest = sign_manifest({
            "kind": SEGMENT_KIND,
            "station": self.station_id,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "entries": len(lines),
            "first_ts": first["ts"],
            "last_ts": last_entry["ts"],
            "first_prev": first["prev"],
            "expected_prev": prev_hash,
            "last_hash": last_entry["hash"],
            "sha256": digest,
            "size": len(data),
            "file": path.name,
        }, self.key)
        write_durably(self.manifest_path(path), manifest)
        row = AuditSegmentRow(
            first_seq=first_seq, last_seq=last_seq, name=name, path=str(path), sha256=digest, size=len(data),
            first_ts=str(first["ts"]), end_offset=end, created_at=iso(utcnow()),
            vault_status=VaultStatus.QUEUED.value, vault_path=None, confirmed_at=None,
        )
        self.journal.add_audit_segment(row)
        if first["prev"] != prev_hash:
            log.error("audit segment %s does not chain to the previous one", name)
        return row

    def _last_hash(self, last: AuditSegmentRow | None) -> str:
        if last is None:
            return GENESIS
        with self.audit.path.open("rb") as fh:
            fh.seek(max(0, last.end_offset - 1))
            # Walk back to the start of the segment's last line.
            pos = last.end_offset - 1
            while pos > 0:
                fh.seek(pos - 1)
                if fh.read(1) == b"\n":
                    break
                pos -= 1
            fh.seek(pos)
            line = fh.readline()
        try:
            return str(json.loads(line)["hash"])
        except (ValueError, KeyError):
            return GENESIS

    def tidy(self) -> None:
        """Remove segment files the journal does not know (a crash between writing and recording)."""
        if not self.folder.exists():
            return
        keep = set()
        for seg in self.journal.audit_segments(pending_only=True):
            keep |= {Path(seg.path).name, self.manifest_path(Path(seg.path)).name}
        for p in self.folder.iterdir():
            if p.name not in keep:
                p.unlink(missing_ok=True)

    @staticmethod
    def manifest_path(segment: Path) -> Path:
        return segment.with_name(segment.name.removesuffix(".jsonl") + ".manifest.json")

    def item(self, seg: AuditSegmentRow) -> DeliveryItem:
        path = Path(seg.path)
        manifest = self.manifest_path(path)
        # station_id only shapes the vault layout: segments go to <root>/<station>/audit/<yyyy>/<mm>/<dd>/.
        return DeliveryItem(
            recording_id=seg.name, station_id=f"{self.station_id}/audit", started_at=parse_iso(seg.first_ts),
            payload_path=path, payload_name=path.name, payload_sha256=seg.sha256, payload_size=seg.size,
            manifest_path=manifest, manifest_name=manifest.name,
        )

    def confirmed(self, seg: AuditSegmentRow, vault_path: str) -> None:
        self.journal.confirm_audit_segment(seg.first_seq, vault_path)
        path = Path(seg.path)
        for p in (path, self.manifest_path(path)):
            p.unlink(missing_ok=True)
