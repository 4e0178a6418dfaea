"""Re-issue a recording's signed manifest when its tag changes, and get it to the vault.

The new revision is the previous signed body with the new tag, a ``supersedes`` hash of the
previous document and a ``retagged`` custody event, signed again. It replaces the manifest in
the store; if the vault already confirmed the recording, the recording goes back to the outbox
(``vault_status`` queued), which re-sends the manifest (targets skip a payload the vault holds).

Coordination with the outbox is through the journal alone: the swap happens while holding the
journal lock, and never while the outbox is uploading that recording (it is retried on the next
sweep). The outbox frees a confirmed recording's local files after confirming; if that removed a
re-issued manifest, the sweep writes it again from the journal, which keeps every revision.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.crashpoints import crash_point
from station.crypto.signed import open_manifest, sign_manifest
from station.offload.tagging import manifest_retention_fields, manifest_tag_fields
from station.storage.audit import SYSTEM, AuditLog
from station.storage.journal import Journal, VaultStatus
from station.storage.store import Store, write_durably
from station.timeutil import iso, utcnow

log = logging.getLogger(__name__)


class ManifestReissuer:
    def __init__(
        self,
        *,
        journal: Journal,
        store: Store,
        audit: AuditLog,
        signing_key: Ed25519PrivateKey,
        station_id: str,
        interval_s: float = 2.0,
        on_requeued: Any = None,
        retention_days: int | None = None,
    ) -> None:
        self.journal, self.store, self.audit = journal, store, audit
        self.signing_key, self.station_id, self.interval_s = signing_key, station_id, interval_s
        self._on_requeued = on_requeued  # e.g. the outbox's kick
        self.retention_days = retention_days
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sweep_lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="manifest-reissue", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def kick(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.sweep()
            except Exception:
                log.exception("manifest re-issue sweep failed")

    def sweep(self) -> int:
        """Re-issue what is behind its tag and restore missing queued manifests; returns how many."""
        done = 0
        with self._sweep_lock:
            for rec_id in self.journal.shift.manifests_behind_tags():
                if self._reissue(rec_id):
                    done += 1
            for rec_id in self.journal.shift.queued_recording_ids():
                self._restore(rec_id)
        return done

    def _reissue(self, rec_id: str) -> bool:
        tag = self.journal.shift.tag_row(rec_id)
        prev = self.journal.shift.latest_manifest(rec_id)
        if tag is None or prev is None:
            return False  # the offload writes the first manifest, with the tag of that moment
        body = open_manifest(prev.document, trusted=self.signing_key.public_key())
        body.pop("version", None)
        body.pop("supersedes", None)
        custody = list(body.get("custody", []))
        custody.append({"event": "retagged", "at": iso(utcnow()), "by": self.station_id, "actor": tag.tagged_by,
                        "tag_revision": tag.revision})
        body.update(manifest_tag_fields(tag))
        # The retention follows the new tag; the station's policy as it was when offloaded unless given.
        policy = self.retention_days or (body.get("retention") or {}).get("station_policy_days")
        if isinstance(policy, int):
            body.update(manifest_retention_fields(body, policy))
        body["custody"] = custody
        body["supersedes"] = hashlib.sha256(prev.document).hexdigest()
        document = sign_manifest(body, self.signing_key)
        with self.journal.shift.with_outbox_held():
            row = self.journal.recording(rec_id)
            if row is None or row.vault_status == VaultStatus.UPLOADING.value:
                return False  # the outbox is sending the old one; next sweep
            write_durably(self.store.manifest_path(rec_id), document)
            crash_point("manifest.reissue")
            requeue = row.vault_status == VaultStatus.CONFIRMED.value
            revision = self.journal.shift.record_manifest(rec_id, tag.revision, document, requeue=requeue)
        self.audit.append(
            who=SYSTEM, what="manifest.reissued", why=f"tag changed to {tag.tag} by {tag.tagged_by}",
            device=row.camera_serial, result="requeued" if requeue else "replaced",
            details={"recording": rec_id, "manifest_revision": revision, "tag_revision": tag.revision,
                     "supersedes": body["supersedes"]},
        )
        if requeue and self._on_requeued is not None:
            self._on_requeued()
        return True

    def _restore(self, rec_id: str) -> None:
        path = self.store.manifest_path(rec_id)
        if path.exists():
            return
        latest = self.journal.shift.latest_manifest(rec_id)
        if latest is None:
            return
        with self.journal.shift.with_outbox_held():
            row = self.journal.recording(rec_id)
            if row is None or row.vault_status != VaultStatus.QUEUED.value or path.exists():
                return
            write_durably(path, latest.document)
        log.info("%s: manifest revision %d restored for the outbox", rec_id, latest.revision)
