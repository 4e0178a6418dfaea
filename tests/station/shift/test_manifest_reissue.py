"""Re-issuing a tagged manifest, coordinated with the outbox through the journal alone."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.crypto.signed import open_manifest, sign_manifest
from station.offload.tagging import manifest_tag_fields
from station.shift.manifest_reissue import ManifestReissuer
from station.storage.audit import AuditLog
from station.storage.journal import Journal, LocalState, RecStatus, VaultStatus
from station.storage.store import Store, write_durably
from station.timeutil import utcnow

REC = "CAM-20260101T000000-abcdef012345"


def setup(tmp_path: Path) -> tuple[Journal, Store, ManifestReissuer, list[int]]:
    journal = Journal(tmp_path / "j.sqlite")
    store = Store(tmp_path / "store", 0)
    key = Ed25519PrivateKey.generate()
    kicks: list[int] = []
    reissuer = ManifestReissuer(journal=journal, store=store, audit=AuditLog(tmp_path / "audit.log"), signing_key=key,
                                station_id="t", on_requeued=lambda: kicks.append(1))
    journal.discover_recording(REC, camera_serial="CAM", source_key="DCIM/1.MP4", size=10, started_at=utcnow(),
                               device_sha256=None, wearer_id="100", slot_id=1)
    payload = store.payload_path(REC, "mp4.age")
    payload.write_bytes(b"ciphertext")
    journal.update_recording(REC, status=RecStatus.VERIFIED.value, vault_status=VaultStatus.QUEUED.value,
                             store_path=str(payload), stored_sha256="00" * 32, stored_size=10,
                             local_state=LocalState.PRESENT.value)
    doc = sign_manifest({"recording_id": REC, "sha256": "11" * 32, "custody": [], **manifest_tag_fields(None)}, key)
    write_durably(store.manifest_path(REC), doc)
    journal.shift.record_manifest(REC, 0, doc)
    return journal, store, reissuer, kicks


def tag(journal: Journal, value: str = "evidence") -> None:
    journal.shift.set_tag(REC, tag=value, case_number="C-1" if value == "evidence" else None, consent_given=None,
                    consent_method=None, consent_note=None, by="100")


def manifest(store: Store) -> dict[str, object]:
    return open_manifest(store.manifest_path(REC).read_bytes())


def test_reissue_replaces_the_queued_manifest(tmp_path: Path) -> None:
    journal, store, reissuer, kicks = setup(tmp_path)
    assert reissuer.sweep() == 0  # nothing behind its tag
    tag(journal)
    assert reissuer.sweep() == 1 and reissuer.sweep() == 0
    body = manifest(store)
    assert body["tag"] == "evidence" and body["tag_details"] == {"case_number": "C-1"} and body["supersedes"]
    assert journal.recording(REC).vault_status == "queued" and not kicks  # type: ignore[union-attr]
    assert journal.shift.latest_manifest(REC).revision == 2  # type: ignore[union-attr]


def test_never_while_uploading_and_requeued_once_confirmed(tmp_path: Path) -> None:
    journal, store, reissuer, kicks = setup(tmp_path)
    journal.update_recording(REC, vault_status=VaultStatus.UPLOADING.value)
    tag(journal)
    assert reissuer.sweep() == 0  # the outbox is sending the old one: wait
    assert manifest(store)["tag"] == "uncategorised"
    # The outbox confirms and frees the local copy (payload and manifest) ...
    journal.update_recording(REC, vault_status=VaultStatus.CONFIRMED.value, local_state=LocalState.DELETED.value)
    store.remove(store.manifest_path(REC), store.payload_path(REC, "mp4.age"))
    # ... then the re-issue writes the new manifest and puts the recording back in the outbox.
    assert reissuer.sweep() == 1 and kicks == [1]
    assert journal.recording(REC).vault_status == "queued" and manifest(store)["tag"] == "evidence"  # type: ignore[union-attr]


def test_a_manifest_the_outbox_removed_is_restored(tmp_path: Path) -> None:
    journal, store, reissuer, _ = setup(tmp_path)
    tag(journal, "learning")
    reissuer.sweep()
    store.manifest_path(REC).unlink()  # e.g. freed by the outbox just before the re-queue
    reissuer.sweep()
    assert manifest(store)["tag"] == "learning"
