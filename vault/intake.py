"""Intake: every new manifest in the inbox is checked and catalogued, or quarantined.

For a recording: the manifest's signature against the key pinned for the folder's station, the
ciphertext's size and SHA-256, then one streaming pass that hashes the ciphertext and decrypts
it with the vault identity to check the plaintext SHA-256 and size (memory does not depend on
the file size). A re-issued manifest (the wearer or staff changed the tag) must name an accepted
revision in ``supersedes`` and describe the same footage. Audit segments are checked too.

Idempotent and crash-safe: a manifest is identified by its path and SHA-256; its outcome (the
catalog rows, the ``seen`` mark and the log entry) is committed in one transaction after the
checks, and a quarantine is journaled before its files move, so a rerun after SIGKILL finishes
what was started and repeats nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from station.crashpoints import crash_point
from station.crypto.keys import KeyFileError, parse_age_identity, read_secret_file
from station.crypto.signed import ManifestError, open_manifest
from station.timeutil import iso, parse_iso, utcnow
from vault import agedecrypt
from vault.catalog import AUDIT, Catalog
from vault.config import VaultConfig
from vault.retention import deadline
from vault.segments import SEGMENT_KIND, SegmentError, check_segment
from vault.store import StoreError
from vault.stores import open_store
from vault.trust import pinned_key

log = logging.getLogger(__name__)
MANIFEST_SUFFIX = ".manifest.json"
READ = 1 << 20


def load_identities(path: Path) -> list[X25519PrivateKey]:
    """Every ``AGE-SECRET-KEY-1`` line of an identity file (old keys stay after a rotation);
    refused if group or others can read it."""
    text = read_secret_file(path).decode("ascii", errors="replace")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                out.append(parse_age_identity(line))
            except ValueError as exc:
                raise KeyFileError(path, str(exc)) from None
    if not out:
        raise KeyFileError(path, "no AGE-SECRET-KEY-1... line found")
    return out


class _HashingReader:
    def __init__(self, fh: BinaryIO | Any) -> None:
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0

    def read(self, n: int = -1, /) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(READ):
            pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadCheck:
    cipher_sha256: str
    cipher_size: int
    plain_sha256: str
    plain_size: int
    error: str | None


def decrypt_verify(path: Path, identities: Sequence[X25519PrivateKey]) -> PayloadCheck:
    """One pass: ciphertext hash and size, decryption, plaintext hash and size."""
    with path.open("rb", buffering=0) as fh:
        return decrypt_verify_stream(fh, identities)


def decrypt_verify_stream(fh: BinaryIO, identities: Sequence[X25519PrivateKey]) -> PayloadCheck:
    """The same over any stream (a file, or an object read from a bucket)."""
    plain = hashlib.sha256()
    reader = _HashingReader(fh)
    error = None
    size = 0
    try:
        size = agedecrypt.decrypt(reader, identities, plain.update)
    except agedecrypt.AgeError as exc:
        error = f"{type(exc).__name__.removeprefix('Age').removesuffix('Error').lower()} failure: {exc}"
        reader.drain()  # finish the ciphertext hash: it says whether the file was changed
    return PayloadCheck(cipher_sha256=reader.sha.hexdigest(), cipher_size=reader.size,
                        plain_sha256=plain.hexdigest(), plain_size=size, error=error)


class Rejected(Exception):
    """A delivery that must not enter the catalog; the message is the quarantine reason."""


@dataclass(slots=True, kw_only=True)
class IntakeSummary:
    accepted: int = 0
    retagged: int = 0
    segments: int = 0
    quarantined: int = 0
    unchanged: int = 0
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "retagged": self.retagged, "segments": self.segments,
                "quarantined": self.quarantined, "unchanged": self.unchanged, "reasons": self.reasons}


def _custody_time(body: dict[str, Any], event: str) -> str | None:
    for c in body.get("custody") or []:
        if isinstance(c, dict) and c.get("event") == event and c.get("at"):
            return str(c["at"])
    return None


def _claimed_recording(data: bytes) -> str | None:
    try:
        value = json.loads(data)["manifest"]["recording_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None


def _norm_time(value: Any) -> str | None:
    if not value:
        return None
    try:
        return iso(parse_iso(str(value)))
    except ValueError:
        return None


class Intake:
    def __init__(self, cfg: VaultConfig, cat: Catalog, identities: Sequence[X25519PrivateKey]) -> None:
        self.cfg, self.cat, self.identities = cfg, cat, list(identities)
        self.inbox = cfg.inbox
        self.store = open_store(cfg)
        self._stat: tuple[int | None, int | None, int | None] = (None, None, None)

    # --- the pass ------------------------------------------------------------------------
    def run_once(self) -> IntakeSummary:
        summary = IntakeSummary()
        self.recover()
        for st in self.store.manifests():
            rel = st.rel
            # A manifest not touched since it was handled is not read again (deliveries replace
            # files, which changes both); a changed one is identified by its content.
            if self.cat.one("SELECT 1 FROM seen WHERE path=? AND size=? AND mtime_ns=? AND ino=?",
                            (rel, st.size, st.mtime_ns, st.ino)):
                summary.unchanged += 1
                continue
            try:
                data = self.store.read_bytes(rel)
            except StoreError as exc:
                log.warning("cannot read %s: %s", rel, exc)  # gone since it was listed; the next pass sees
                continue
            sha = hashlib.sha256(data).hexdigest()
            self._stat = (st.size, st.mtime_ns, st.ino) if len(data) == st.size else (None, None, None)
            if self.cat.one("SELECT 1 FROM seen WHERE path=? AND sha256=?", (rel, sha)):
                with self.cat.tx() as db:
                    db.execute("UPDATE seen SET size=?, mtime_ns=?, ino=? WHERE path=? AND sha256=?",
                               (*self._stat, rel, sha))
                summary.unchanged += 1
                continue
            self._one(rel, data, sha, summary)
        return summary

    def _mark_seen(self, db: sqlite3.Connection, rel: str, sha: str, outcome: str, now: str) -> None:
        db.execute("INSERT OR IGNORE INTO seen(path, sha256, outcome, at, size, mtime_ns, ino) "
                   "VALUES (?,?,?,?,?,?,?)",
                   (rel, sha, outcome, now, *self._stat))

    def recover(self) -> None:
        """Finish quarantines whose files had not all moved, and write pending log entries."""
        for row in self.cat.all("SELECT * FROM quarantine WHERE state='moving' ORDER BY id"):
            self._move_to_quarantine(row["id"])
        self.cat.flush_logs()

    def _one(self, rel: str, data: bytes, sha: str, summary: IntakeSummary) -> None:
        parts = Path(rel).parts
        station = parts[0]
        restore: bytes | None = None
        files = [rel]
        rec_id = _claimed_recording(data)  # unverified: only to keep a catalogued recording's files
        try:
            key = pinned_key(self.cat, station)
            if key is None:
                files = self._delivery_files(rel, data)
                raise Rejected(f"station {station!r} is not registered")
            try:
                body = open_manifest(data, trusted=key)
            except ManifestError as exc:
                files = self._delivery_files(rel, data)
                raise Rejected(f"manifest rejected: {exc}") from None
            if body.get("station") != station:
                files = self._delivery_files(rel, data)
                raise Rejected(f"manifest names station {body.get('station')!r} but arrived in {station!r}'s folder")
            if body.get("kind") == SEGMENT_KIND:
                files = self._delivery_files(rel, data)
                self._segment(rel, sha, body)
                summary.segments += 1
                return
            rec_id = str(body.get("recording_id") or "") or None
            existing = self.cat.recording(rec_id) if rec_id else None
            if existing is not None:
                if existing.state != "catalogued":
                    files = [rel]
                    raise Rejected(f"recording {rec_id} was {existing.state} from the vault; a manifest came again")
                if self._retag(rel, sha, data, body, existing.manifest_sha256, existing.tag_revision,
                               existing.payload_sha256, existing.sha256):
                    summary.retagged += 1
                else:
                    summary.unchanged += 1
                return
            files = self._delivery_files(rel, data)
            self._new_recording(rel, sha, data, body)
            summary.accepted += 1
        except Rejected as rej:
            if rec_id and (existing := self.cat.recording(rec_id)) is not None and existing.state == "catalogued":
                # A bad re-issue of a catalogued recording: only that manifest goes; the accepted
                # one is put back, and the footage stays where it is.
                files = [rel]
                row = self.cat.one("SELECT document FROM manifests WHERE recording_id=? AND sha256=?",
                                   (rec_id, existing.manifest_sha256))
                if row is not None and rel == existing.manifest_path:
                    restore = bytes(row["document"])
            self._quarantine(rel, sha, station, rec_id, files, str(rej), restore)
            summary.quarantined += 1
            summary.reasons.append(f"{rel}: {rej}")

    def _delivery_files(self, rel: str, data: bytes) -> list[str]:
        """The manifest and the payload it names (if it names a plain file next to it)."""
        out = [rel]
        try:
            doc = json.loads(data)
            name = str(doc["manifest"].get("payload", {}).get("file") or doc["manifest"].get("file") or "")
        except (ValueError, KeyError, TypeError, AttributeError):
            return out
        beside = posixpath.join(posixpath.dirname(rel), name)
        if name and "/" not in name and name not in (".", "..") and self.store.size(beside) is not None:
            out.insert(0, beside)
        return out

    # --- recordings ----------------------------------------------------------------------
    def _new_recording(self, rel: str, sha: str, data: bytes, body: dict[str, Any]) -> None:
        rec_id = str(body.get("recording_id") or "")
        payload_meta = body.get("payload")
        if not rec_id or not isinstance(payload_meta, dict):
            raise Rejected("manifest has no recording id or payload")
        name = str(payload_meta.get("file") or "")
        if "/" in name or not name.startswith(rec_id + "."):
            raise Rejected(f"payload name {name!r} is not this recording's")
        payload = posixpath.join(posixpath.dirname(rel), name)
        stored_size = self.store.size(payload)
        if stored_size is None:
            raise Rejected(f"payload {name} is missing")
        want_size, want_sha = payload_meta.get("size"), payload_meta.get("sha256")
        if stored_size != want_size:
            raise Rejected(f"ciphertext is {stored_size} bytes, the manifest says {want_size}")
        crash_point("intake.before_decrypt")
        with self.store.open(payload) as fh:
            check = decrypt_verify_stream(fh, self.identities)
        crash_point("intake.decrypted")
        if check.cipher_sha256 != want_sha:
            raise Rejected("ciphertext SHA-256 does not match the manifest"
                           + (f" ({check.error})" if check.error else ""))
        if check.error:
            raise Rejected(f"ciphertext matches the manifest but does not decrypt with the vault identity: "
                           f"{check.error}")
        if check.plain_sha256 != body.get("sha256") or check.plain_size != body.get("size"):
            raise Rejected("decrypted footage does not match the manifest's plaintext SHA-256/size")
        now = iso(utcnow())
        fields = self._fields(body)
        days, until = deadline(self.cat, self.cfg.retention, fields)
        with self.cat.tx() as db:
            db.execute(
                "INSERT INTO recordings(id, station, slot, camera_serial, camera_model, wearer_id, started_at, "
                "ended_at, duration_s, tag, tag_revision, case_number, consent_json, probe_json, media_ok, sha256, "
                "size, payload_sha256, payload_size, payload_path, manifest_path, manifest_sha256, offloaded_at, "
                "retention_days, retention_until, state, ingested_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'catalogued',?)",
                (rec_id, body["station"], fields["slot"], fields["camera_serial"], fields["camera_model"],
                 fields["wearer_id"], fields["started_at"], fields["ended_at"], fields["duration_s"], fields["tag"],
                 fields["tag_revision"], fields["case_number"], fields["consent_json"], fields["probe_json"],
                 fields["media_ok"], body["sha256"], body["size"], want_sha, want_size,
                 payload, rel, sha, fields["offloaded_at"], days, until, now))
            db.execute("INSERT INTO manifests(recording_id, sha256, tag_revision, document, accepted_at) "
                       "VALUES (?,?,?,?,?)", (rec_id, sha, fields["tag_revision"], data, now))
            self._mark_seen(db, rel, sha, "accepted", now)
            Catalog.queue_log(db, AUDIT, f"intake:{rel}:{sha}", who="system", what="recording.accepted",
                              why="signature, ciphertext and plaintext SHA-256 verified",
                              details={"recording": rec_id, "station": body["station"], "tag": fields["tag"],
                                       "sha256": body["sha256"], "payload_sha256": want_sha,
                                       "retention_until": until})
        crash_point("intake.committed")
        self.cat.flush_logs()

    def _fields(self, body: dict[str, Any]) -> dict[str, Any]:
        camera: dict[str, Any] = body["camera"] if isinstance(body.get("camera"), dict) else {}
        probe: dict[str, Any] | None = body["probe"] if isinstance(body.get("probe"), dict) else None
        details: dict[str, Any] = body["tag_details"] if isinstance(body.get("tag_details"), dict) else {}
        tag = str(body.get("tag") or "uncategorised")
        consent = details.get("consent") if tag == "learning" else None
        started = _norm_time(body.get("started_at"))
        ended = _norm_time(body.get("ended_at"))
        duration = probe.get("duration_s") if probe else None
        retention_days = body.get("retention_days")
        return {
            "slot": body.get("slot"), "camera_serial": camera.get("serial"), "camera_model": camera.get("model"),
            "wearer_id": body.get("wearer_id"), "started_at": started, "ended_at": ended,
            "duration_s": float(duration) if isinstance(duration, int | float) else None,
            "tag": tag, "tag_revision": int(body.get("tag_revision") or 0),
            "case_number": details.get("case_number") if tag == "evidence" else None,
            "consent_json": json.dumps(consent, sort_keys=True) if isinstance(consent, dict) else None,
            "consent": consent if isinstance(consent, dict) else None,
            "probe_json": json.dumps(probe, sort_keys=True) if probe else None,
            "media_ok": None if body.get("media_ok") is None else int(bool(body.get("media_ok"))),
            "offloaded_at": _norm_time(_custody_time(body, "offloaded")),
            "manifest_retention_days": retention_days if isinstance(retention_days, int) else None,
        }

    def _retag(self, rel: str, sha: str, data: bytes, body: dict[str, Any], current_sha: str, current_rev: int,
               payload_sha: str, plain_sha: str) -> bool:
        rec_id = str(body["recording_id"])
        payload_meta: dict[str, Any] = body["payload"] if isinstance(body.get("payload"), dict) else {}
        if payload_meta.get("sha256") != payload_sha or body.get("sha256") != plain_sha:
            raise Rejected(f"manifest for {rec_id} describes other footage than the catalogued one")
        known = {r["sha256"] for r in self.cat.all("SELECT sha256 FROM manifests WHERE recording_id=?", (rec_id,))}
        fields = self._fields(body)
        now = iso(utcnow())
        if sha in known or fields["tag_revision"] <= current_rev:
            # The same or an older revision (arrived late): nothing to change.
            with self.cat.tx() as db:
                self._mark_seen(db, rel, sha, "stale", now)
            return False
        if body.get("supersedes") not in known:
            raise Rejected(f"re-issued manifest for {rec_id} does not supersede an accepted revision")
        days, until = deadline(self.cat, self.cfg.retention, fields)
        with self.cat.tx() as db:
            db.execute("UPDATE recordings SET tag=?, tag_revision=?, case_number=?, consent_json=?, manifest_path=?, "
                       "manifest_sha256=?, retention_days=?, retention_until=? WHERE id=?",
                       (fields["tag"], fields["tag_revision"], fields["case_number"], fields["consent_json"], rel, sha,
                        days, until, rec_id))
            db.execute("INSERT INTO manifests(recording_id, sha256, tag_revision, document, accepted_at) "
                       "VALUES (?,?,?,?,?)", (rec_id, sha, fields["tag_revision"], data, now))
            self._mark_seen(db, rel, sha, "retagged", now)
            Catalog.queue_log(db, AUDIT, f"intake:{rel}:{sha}", who="system", what="recording.retagged",
                              why="re-issued manifest verified",
                              details={"recording": rec_id, "tag": fields["tag"],
                                       "tag_revision": fields["tag_revision"],
                                       "supersedes": body.get("supersedes"), "retention_until": until})
        self.cat.flush_logs()
        return True

    # --- audit segments ------------------------------------------------------------------
    def _segment(self, rel: str, sha: str, body: dict[str, Any]) -> None:
        name = str(body.get("file") or "")
        path = posixpath.join(posixpath.dirname(rel), name)
        if not name or "/" in name or self.store.size(path) is None:
            raise Rejected(f"audit segment file {name!r} is missing")
        try:
            seg = check_segment(body, self.store.read_bytes(path))
        except SegmentError as exc:
            raise Rejected(f"audit segment rejected: {exc}") from None
        station = str(body["station"])
        now = iso(utcnow())
        with self.cat.tx() as db:
            db.execute("INSERT OR IGNORE INTO segments(station, sha256, first_seq, last_seq, first_prev, last_hash, "
                       "first_ts, last_ts, file, manifest_path, accepted_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (station, seg.sha256, seg.first_seq, seg.last_seq, seg.first_prev, seg.last_hash,
                        seg.first_ts, seg.last_ts, path, rel, now))
            db.executemany("INSERT OR IGNORE INTO audit_offloads(station, recording_id, seq, ts, segment_sha256) "
                           "VALUES (?,?,?,?,?)", [(station, r, s, t, seg.sha256) for r, s, t in seg.offloads])
            self._mark_seen(db, rel, sha, "segment", now)
            Catalog.queue_log(db, AUDIT, f"intake:{rel}:{sha}", who="system", what="audit_segment.accepted",
                              details={"station": station, "first_seq": seg.first_seq, "last_seq": seg.last_seq,
                                       "sha256": seg.sha256})
        self.cat.flush_logs()

    # --- quarantine ----------------------------------------------------------------------
    def _quarantine(self, rel: str, sha: str, station: str, rec_id: str | None, files: list[str], reason: str,
                    restore: bytes | None) -> None:
        now = iso(utcnow())
        log.warning("quarantined %s: %s", rel, reason)
        with self.cat.tx() as db:
            qid = self.cat.next_counter(db, "quarantine")
            folder = f"{qid:06d}"
            db.execute("INSERT INTO quarantine(id, station, recording_id, manifest_path, files_json, folder, reason, "
                       "at, state, restore_manifest) VALUES (?,?,?,?,?,?,?,?,'moving',?)",
                       (qid, station, rec_id, rel, json.dumps(files), folder, reason, now, restore))
            self._mark_seen(db, rel, sha, "quarantined", now)
            self.cat.alert(db, "quarantine", rel, reason, now)
            Catalog.queue_log(db, AUDIT, f"quarantine:{rel}:{sha}", who="system", what="delivery.quarantined",
                              why=reason, result="quarantined",
                              details={"station": station, "recording": rec_id, "files": files, "quarantine": folder})
        crash_point("intake.quarantine_committed")
        self.cat.flush_logs()
        self._move_to_quarantine(qid)

    def _move_to_quarantine(self, qid: int) -> None:
        row = self.cat.one("SELECT * FROM quarantine WHERE id=?", (qid,))
        assert row is not None
        dest = self.cfg.quarantine_dir / row["folder"]
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
        for rel in json.loads(row["files_json"]):
            if self.store.size(rel) is not None:
                self.store.move_out(rel, dest / Path(rel).name)
                crash_point("intake.quarantine_moved")
        if row["restore_manifest"] is not None:
            self.store.write_bytes(row["manifest_path"], bytes(row["restore_manifest"]))
        with self.cat.tx() as db:
            db.execute("UPDATE quarantine SET state='done' WHERE id=?", (qid,))

