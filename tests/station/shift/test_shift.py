"""A whole shift, in process, with the simulated adapter: check-out (badge and PIN, pool and
personal), undock, record, re-dock, tag, offload, wipe, ready, the next officer takes it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera, record
from station.core.events import CameraReleased, CheckedOut, CheckinClosed, CheckinOpened, RecordingTagged
from station.crypto.signed import open_manifest
from station.shift import (
    CheckoutRefusedError,
    Consent,
    ConsentMethod,
    NotAllowed,
    Tag,
    TagError,
    TagRequest,
)
from tests.conftest import wait_for, write_station_config
from tests.station.shift_helpers import (
    OFFICER_A,
    OFFICER_B,
    OFFICER_C,
    STAFF,
    Dock,
    audit_entries,
    running_docks,
    start_dock,
    write_roster,
)

docks = pytest.fixture(running_docks)


def vault_manifests(vault: Path) -> dict[str, dict[str, object]]:
    return {body["recording_id"]: body for body in (open_manifest(p.read_bytes())
                                                     for p in vault.rglob("*.manifest.json"))}


def test_whole_shift(tmp_path: Path, docks: list[Dock]) -> None:
    env = write_station_config(tmp_path, slots=2, min_battery=50)
    # No charging while docked (rate 0): the batteries stay where the test puts them.
    make_camera(env.cameras, "CAM-A", recordings=1, seconds=1, battery_percent=95, charge_rate_pps=0)
    make_camera(env.cameras, "CAM-B", recordings=1, seconds=1, battery_percent=70, charge_rate_pps=0)
    cam_a, cam_b = env.cameras / "CAM-A", env.cameras / "CAM-B"
    dock = start_dock(env, write_roster(tmp_path / "roster.yaml"))
    docks.append(dock)
    simcam.dock(env.dock, 1, cam_a)
    simcam.dock(env.dock, 2, cam_b)
    dock.wait_state(1, "ready")
    dock.wait_state(2, "ready")
    shift = dock.shift

    # --- check-out by badge, pool: the highest battery (CAM-A, 95 %) --------------------------------
    got = shift.checkout_by_badge("04a1b2c3")
    assert (got.slot_id, got.camera_serial, got.located) == (1, "CAM-A", True)
    assert got.wearer_id == OFFICER_A["personnel_number"]
    assert dock.view(1).state == "assigned"
    state = simcam.read_state(cam_a)
    assert state.wearer is not None and state.wearer.officer_id == OFFICER_A["personnel_number"]
    assert state.wearer.name == OFFICER_A["name"]
    assert state.clock_set_at is not None and state.clock_offset_s == 0.0
    assert state.settings["prebuffer_s"] == "60" and state.locating is True
    dock.recorder.wait(CameraReleased, lambda e: e.camera_serial == "CAM-A")
    # A second tap while the camera still waits in its slot gives the same answer, not a second camera.
    assert shift.checkout_by_badge("04A1B2C3").camera_serial == "CAM-A"

    # --- check-out by PIN, pool: the only other ready camera --------------------------------------------
    got_c = shift.checkout_by_pin(OFFICER_C["personnel_number"], OFFICER_C["pin"])
    assert got_c.camera_serial == "CAM-B"
    with pytest.raises(CheckoutRefusedError, match="no camera is ready"):
        shift.checkout_by_pin(STAFF["personnel_number"], STAFF["pin"])

    # --- undock completes the check-out; the camera films ---------------------------------------------
    simcam.undock(env.dock, 1)
    simcam.undock(env.dock, 2)
    dock.recorder.wait(CheckedOut, lambda e: e.camera_serial == "CAM-A")
    dock.wait_state(1, "checked_out")
    assert not dock.station.alerts.open()  # a proper check-out raises nothing
    keys = [record(cam_a, seconds=1.0), record(cam_a, seconds=1.0)]

    # --- re-dock: check-in for the last wearer, offload at once -------------------------------------------
    simcam.dock(env.dock, 1, cam_a)
    opened = dock.recorder.wait(CheckinOpened, lambda e: e.camera_serial == "CAM-A" and e.wearer_id is not None)
    assert opened.wearer_id == OFFICER_A["personnel_number"]
    wait_for(lambda: len(shift.checkin(checkin_id=opened.checkin_id).recordings) == 2, 30, what="recordings listed")
    view = shift.checkin(slot_id=1)
    assert view.checkin_id == opened.checkin_id and view.wearer_name == OFFICER_A["name"] and view.is_open
    assert sorted(r.size for r in view.recordings) == sorted((cam_a / k).stat().st_size for k in keys)
    assert all(r.started_at for r in view.recordings)

    # --- tag: evidence with a case number, learning with a consent record ------------------------------------
    me = shift.authenticate_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"])
    rec1, rec2 = (r.recording_id for r in view.recordings)
    with pytest.raises(TagError):
        shift.tag(rec1, TagRequest(Tag.EVIDENCE), me)  # no case number
    shift.tag(rec1, TagRequest(Tag.EVIDENCE, case_number="2026-HH-00042"), me)
    shift.tag(rec2, TagRequest(Tag.LEARNING, consent=Consent(True, ConsentMethod.VERBAL, "asked on scene")), me)
    someone_else = shift.authenticate_pin(OFFICER_C["personnel_number"], OFFICER_C["pin"])
    with pytest.raises(NotAllowed):
        shift.tag(rec1, TagRequest(Tag.UNCATEGORISED), someone_else)
    dock.recorder.wait(RecordingTagged, lambda e: e.recording_id == rec2)

    # --- offload, wipe, ready -------------------------------------------------------------------------------
    dock.wait_state(1, "ready")
    done = shift.checkin(checkin_id=opened.checkin_id)
    assert all(r.offloaded and r.duration_s and r.duration_s > 0 for r in done.recordings)
    assert [r.tag for r in done.recordings] == ["evidence", "learning"]
    assert not simcam.scan_recordings(cam_a)
    shift.finish_checkin(opened.checkin_id, me)
    dock.recorder.wait(CheckinClosed, lambda e: e.checkin_id == opened.checkin_id)
    with pytest.raises(NotAllowed, match="closed"):
        shift.tag(rec2, TagRequest(Tag.UNCATEGORISED), me)

    # --- the vault gets the tags in the signed manifests; a later staff change re-issues -----------------------
    wait_for(lambda: all(r.in_vault for r in shift.checkin(checkin_id=opened.checkin_id).recordings), 60,
             what="vault confirmation")
    manifests = vault_manifests(env.vault)
    assert manifests[rec1]["tag"] == "evidence" and manifests[rec1]["tag_details"] == {"case_number": "2026-HH-00042"}
    assert manifests[rec2]["tag_details"] == {"consent": {"given": True, "method": "verbal", "note": "asked on scene"}}
    staff = shift.authenticate_pin(STAFF["personnel_number"], STAFF["pin"])
    with pytest.raises(NotAllowed, match="reason"):
        shift.tag(rec2, TagRequest(Tag.UNCATEGORISED), staff)
    shift.tag(rec2, TagRequest(Tag.UNCATEGORISED), staff, reason="filmed person withdrew consent")
    wait_for(lambda: vault_manifests(env.vault)[rec2]["tag"] == "uncategorised", 60, what="re-issued manifest")
    again = vault_manifests(env.vault)[rec2]
    assert again["supersedes"] and again["custody"][-1]["event"] == "retagged"
    assert again["custody"][-1]["actor"] == STAFF["personnel_number"]
    assert again["sha256"] == manifests[rec2]["sha256"]  # same footage, new tag

    # --- the next officer takes it: badge, personal policy (M. Bakker's own camera is CAM-A) -------------------
    shift.settings = replace(shift.settings, policy="personal")
    with pytest.raises(CheckoutRefusedError, match="still checked out to you"):
        shift.checkout_by_pin(OFFICER_C["personnel_number"], OFFICER_C["pin"])  # CAM-B is not back yet
    with pytest.raises(CheckoutRefusedError, match="no personal camera"):
        shift.checkout_by_pin(STAFF["personnel_number"], STAFF["pin"])
    nxt = shift.checkout_by_badge("04D4E5F6")
    assert (nxt.slot_id, nxt.camera_serial) == (1, "CAM-A")
    assert simcam.read_state(cam_a).wearer.officer_id == OFFICER_B["personnel_number"]  # type: ignore[union-attr]
    simcam.undock(env.dock, 1)
    dock.recorder.wait(CheckedOut, lambda e: e.wearer_id == OFFICER_B["personnel_number"])

    # --- the audit log holds every step: who, what, when, why ----------------------------------------------------
    log = audit_entries(env)
    steps = [(e["who"], e["what"], e["result"]) for e in log]
    a, b, s = OFFICER_A["personnel_number"], OFFICER_B["personnel_number"], STAFF["personnel_number"]
    for step in [(a, "auth.ok", "ok"), (a, "camera.assign", "assigned"), (a, "camera.checked_out", "ok"),
                 (a, "checkin.opened", "ok"), (a, "recording.tagged", "ok"), (a, "checkin.closed", "ok"),
                 ("system", "recording.offloaded", "verified"), ("system", "camera.wipe", "verified"),
                 ("system", "camera.ready", "ok"), (s, "recording.tagged", "ok"),
                 ("system", "manifest.reissued", "requeued"), (b, "camera.assign", "assigned"),
                 (b, "camera.checked_out", "ok")]:
        assert step in steps, step
    def first(what: str, who: str | None = None, after: int = -1) -> int:
        return next(i for i, e in enumerate(log) if i > after and e["device"] == "CAM-A" and e["what"] == what
                    and (who is None or e["who"] == who))

    out = first("camera.checked_out", a)
    back = first("checkin.opened", a, out)
    assert first("camera.wipe", after=back) > first("recording.offloaded", after=back)
    assert all(e["ts"] and e["why"] is not None for e in log)
    wipe = next(e for e in log[back:] if e["what"] == "camera.wipe" and e["device"] == "CAM-A")
    assert wipe["details"]["recordings_before"] == 2 and wipe["details"]["recordings_after"] == 0
    assert wipe["details"]["method"] and wipe["details"]["free_bytes_after"] and wipe["result"] == "verified"
    text = (env.state / "audit.log").read_text()
    for p in (OFFICER_A, OFFICER_B, OFFICER_C, STAFF):
        assert f'"{p["pin"]}"' not in text  # PINs never reach the log
    assert "scrypt$" not in text

