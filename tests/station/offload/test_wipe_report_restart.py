"""The wipe report names every recording removed from the camera, across a SIGKILL mid-wipe,
exactly once, and no journal row stays 'wiping' once the wipe is done (BIO 7.10.02)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.adapter import SimulatedAdapter
from device_adapters.simulated.generate import make_camera
from station.crypto.keys import generate_age_identity
from station.offload.pipeline import OffloadJob, OffloadOk, Progress, offload_camera
from station.offload.wipe_gate import Wiped, wipe_camera
from station.storage.journal import Journal
from station.storage.paths import open_audit
from station.storage.store import Store
from tests.conftest import ROOT

WIPE = r"""
import sys
from pathlib import Path
from device_adapters.simulated.adapter import SimulatedAdapter
from station.offload.wipe_gate import wipe_camera
from station.storage.journal import Journal
from station.storage.paths import open_audit
root = Path(sys.argv[1])
journal = Journal(root / "journal.sqlite")
adapter = SimulatedAdapter(root / "cameras" / "CAM-W")
print(wipe_camera(journal=journal, audit=open_audit(journal, root / "audit.log"), adapter=adapter,
                  camera=adapter.identify(), slot_id=1, wipe_after="local_verified"))
"""


def _reports(root: Path) -> list[dict[str, object]]:
    entries = [json.loads(line) for line in (root / "audit.log").read_text().splitlines()]
    return [e["details"] for e in entries if e["what"] == "camera.wipe"]


@pytest.mark.parametrize(("point", "delivered_meanwhile"), [("wipe.recording@2", False), ("wipe.recording@3", False),
                                                            ("wipe.reported@1", False), ("wipe.reported@1", True)])
def test_wipe_report_survives_a_kill_mid_wipe(tmp_path: Path, point: str, delivered_meanwhile: bool) -> None:
    make_camera(tmp_path / "cameras", "CAM-W", recordings=3, seconds=1, battery_percent=90)
    cam = tmp_path / "cameras" / "CAM-W"
    journal = Journal(tmp_path / "journal.sqlite")
    audit = open_audit(journal, tmp_path / "audit.log")
    adapter = SimulatedAdapter(cam)
    job = OffloadJob(journal=journal, audit=audit, store=Store(tmp_path / "store", 0),
                     signing_key=Ed25519PrivateKey.generate(), station_id="t", slot_id=1, adapter=adapter,
                     camera=adapter.identify(), verify_policy="reread", chunk_size=1 << 16, progress=Progress(),
                     recipients=(generate_age_identity(tmp_path / "identity.txt"),))
    assert isinstance(offload_camera(job), OffloadOk)
    ids = sorted(r.id for r in journal.recordings_for_camera("CAM-W"))
    audit.close()
    journal.close()

    env = {**os.environ, "BODYDOCK_CRASH_AT": point, "PYTHONPATH": str(ROOT)}
    died = subprocess.run([sys.executable, "-c", WIPE, str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert died.returncode == -9, died.stdout + died.stderr

    journal = Journal(tmp_path / "journal.sqlite")
    if delivered_meanwhile:
        # The outbox touches the rows after the report (the crash campaign found this): their
        # updated_at is then later than the report, which must still count.
        for rid in ids:
            journal.update_recording(rid, vault_status="confirmed")
    audit = open_audit(journal, tmp_path / "audit.log")
    result = wipe_camera(journal=journal, audit=audit, adapter=adapter, camera=adapter.identify(), slot_id=1,
                         wipe_after="local_verified")
    assert isinstance(result, Wiped), result
    assert not simcam.scan_recordings(cam)
    named = [rid for report in _reports(tmp_path) for rid in report["removed"]]  # type: ignore[attr-defined]
    assert sorted(named) == ids, _reports(tmp_path)  # every one, once
    states = {r.camera_state for r in journal.recordings_for_camera("CAM-W")}
    assert states == {"wiped"}
    audit.close()
    journal.close()
