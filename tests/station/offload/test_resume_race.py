"""A recording the vault has confirmed is never copied again, and never blocks its camera.

Reproduces the campaign's race in-process and deterministically: the outbox freed a confirmed
recording's store files but the restart came before the journal said so (or an old journal left
the recording 'stored' after the race), then the camera is docked again.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.adapter import SimulatedAdapter
from device_adapters.simulated.generate import make_camera
from station.crypto.keys import generate_age_identity
from station.offload.pipeline import OffloadJob, OffloadOk, Progress, offload_camera
from station.offload.wipe_gate import Wiped, wipe_camera
from station.storage.journal import Journal, LocalState, RecStatus, VaultStatus
from station.storage.paths import open_audit
from station.storage.store import Store


def _job(root: Path, journal: Journal, adapter: SimulatedAdapter, recipient: str) -> OffloadJob:
    return OffloadJob(journal=journal, audit=open_audit(journal, root / "audit.log"), store=Store(root / "store", 0),
                      signing_key=Ed25519PrivateKey.generate(), station_id="t", slot_id=1, adapter=adapter,
                      camera=adapter.identify(), verify_policy="both", chunk_size=1 << 16, progress=Progress(),
                      recipients=(recipient,))


def _confirm(journal: Journal, rec_id: str) -> None:
    row = journal.recording(rec_id)
    assert row is not None and row.stored_sha256 and row.stored_size
    journal.confirm_in_vault(rec_id, target="t", payload_path=f"/vault/{rec_id}.mp4.age",
                             manifest_path=f"/vault/{rec_id}.manifest.json", sha256=row.stored_sha256,
                             size=row.stored_size, already_present=False)


def test_confirmed_recording_is_not_copied_again_and_its_camera_is_wiped(tmp_path: Path) -> None:
    make_camera(tmp_path / "cameras", "CAM-R", recordings=3, seconds=1, battery_percent=90)
    cam = tmp_path / "cameras" / "CAM-R"
    journal = Journal(tmp_path / "journal.sqlite")
    adapter = SimulatedAdapter(cam)
    recipient = generate_age_identity(tmp_path / "identity.txt")
    first = _job(tmp_path, journal, adapter, recipient)
    assert isinstance(offload_camera(first), OffloadOk)
    a, b, c = (r.id for r in journal.recordings_for_camera("CAM-R"))
    for rid in (a, b):
        _confirm(journal, rid)
    # a: the outbox removed its store files, then the station died before the journal said so.
    row_a = journal.recording(a)
    assert row_a is not None and row_a.store_path
    Path(row_a.store_path).unlink()
    # b: what the race left in the campaign: 'stored' again although the vault confirmed it.
    journal.update_recording(b, status=RecStatus.STORED.value, local_state=LocalState.DELETED.value)
    row_b = journal.recording(b)
    assert row_b is not None and row_b.store_path
    Path(row_b.store_path).unlink()

    second = _job(tmp_path, journal, adapter, recipient)
    assert isinstance(offload_camera(second), OffloadOk)
    assert second.progress.recordings_done == 3  # nothing left to copy
    assert not Path(row_a.store_path).exists() and not Path(row_b.store_path).exists()  # not copied again
    for rid in (a, b):
        row = journal.recording(rid)
        assert row is not None
        assert (row.status, row.vault_status) == (RecStatus.VERIFIED.value, VaultStatus.CONFIRMED.value), row
    audit = (tmp_path / "audit.log").read_text()
    assert audit.count('"what":"recording.repaired"') == 1 and b in audit

    result = wipe_camera(journal=journal, audit=second.audit, adapter=adapter, camera=second.camera, slot_id=1,
                         wipe_after="local_verified")
    assert isinstance(result, Wiped) and result.removed == 3, result
    assert not simcam.scan_recordings(cam)
    row_c = journal.recording(c)
    assert row_c is not None and row_c.local_state == LocalState.PRESENT.value  # c still waits for the vault
