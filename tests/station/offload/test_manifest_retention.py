"""policies.retention_days travels in every manifest as what the vault must apply, per tag.

The field is the one the vault's intake reads (``retention_days``, vault/intake.py); evidence and
consented learning footage carry none, because their own rule (the case, the consent) decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bodydock.assembly import build_station
from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera
from station.core.engine import Station
from station.crypto.signed import open_manifest, sign_manifest
from station.offload.tagging import manifest_retention_fields, manifest_tag_fields
from station.shift.manifest_reissue import ManifestReissuer
from station.storage.audit import AuditLog
from station.storage.journal import Journal, LocalState, RecStatus, VaultStatus
from station.storage.store import Store, write_durably
from station.timeutil import utcnow
from tests.conftest import wait_for, write_station_config


@pytest.fixture
def running() -> Iterator[list[Station]]:
    stations: list[Station] = []
    yield stations
    for s in stations:
        s.stop()


def test_every_manifest_carries_the_configured_retention(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1)
    env.config_path.write_text(env.config_path.read_text().replace("policies:\n", "policies:\n  retention_days: 14\n"))
    make_camera(env.cameras, "CAM-T", recordings=2, seconds=1, battery_percent=90)
    st = build_station(env.load())
    st.start()
    running.append(st)
    simcam.dock(env.dock, 1, env.cameras / "CAM-T")
    wait_for(lambda: len(list(env.vault.rglob("*.mp4.age"))) == 2 and st.deliverer.backlog()[0] == 0, 60,
             what="both recordings in the vault")
    bodies = [open_manifest(m.read_bytes()) for m in env.vault.rglob("*.manifest.json") if "audit" not in m.parts]
    assert len(bodies) == 2
    for body in bodies:
        assert body["tag"] == "uncategorised"
        assert body["retention_days"] == 14
        assert body["retention"] == {"basis": "station-policy", "station_policy_days": 14}


REC = "CAM-20260101T000000-abcdef012345"


def test_a_retag_recomputes_the_retention(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    store = Store(tmp_path / "store", 0)
    key = Ed25519PrivateKey.generate()
    reissuer = ManifestReissuer(journal=journal, store=store, audit=AuditLog(tmp_path / "audit.log"), signing_key=key,
                                station_id="t")
    journal.discover_recording(REC, camera_serial="CAM", source_key="DCIM/1.MP4", size=10, started_at=utcnow(),
                               device_sha256=None, wearer_id="100", slot_id=1)
    payload = store.payload_path(REC, "mp4.age")
    payload.write_bytes(b"ciphertext")
    journal.update_recording(REC, status=RecStatus.VERIFIED.value, vault_status=VaultStatus.QUEUED.value,
                             store_path=str(payload), stored_sha256="00" * 32, stored_size=10,
                             local_state=LocalState.PRESENT.value)
    tag = manifest_tag_fields(None)
    doc = sign_manifest({"recording_id": REC, "custody": [], **tag, **manifest_retention_fields(tag, 21)}, key)
    write_durably(store.manifest_path(REC), doc)
    journal.shift.record_manifest(REC, 0, doc)

    def retag(value: str, **kw: object) -> dict[str, object]:
        journal.shift.set_tag(REC, tag=value, case_number=kw.get("case"), consent_given=kw.get("given"),  # type: ignore[arg-type]
                              consent_method=kw.get("method"), consent_note=None, by="100")  # type: ignore[arg-type]
        assert reissuer.sweep() == 1
        return open_manifest(store.manifest_path(REC).read_bytes())

    body = retag("evidence", case="C-1")
    assert body["retention_days"] is None and body["retention"] == {"basis": "evidence-case", "station_policy_days": 21}
    body = retag("learning", given=True, method="verbal")
    assert body["retention_days"] is None and body["retention"]["basis"] == "consent"  # type: ignore[index]
    body = retag("learning", given=False, method="verbal")
    assert body["retention_days"] == 21  # no consent: kept no longer than anything else
    body = retag("uncategorised")
    assert body["retention_days"] == 21 and body["retention"]["basis"] == "station-policy"  # type: ignore[index]
    journal.close()
