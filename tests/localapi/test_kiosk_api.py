"""The kiosk's local API against a running station (simulated cameras, real shift service, real
HTTP over the Unix socket): snapshots, the event stream, check-out, check-in and tags, staff and
admin, badge reads, and refusal codes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localapi.kiosk.codes import alert_kind
from station.core.alerts import Severity
from tests.conftest import wait_for
from tests.localapi.kiosk_dock import ADMIN, KioskDock, start_kiosk_dock
from tests.station.shift_helpers import OFFICER_A, OFFICER_C, STAFF


@pytest.fixture
def kdock(tmp_path: Path) -> Iterator[KioskDock]:
    d = start_kiosk_dock(tmp_path)
    yield d
    d.stop()


def client(d: KioskDock) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(d.socket)), base_url="http://kiosk", timeout=60)


def pin(person: dict[str, Any]) -> dict[str, str]:
    return {"personnel_number": person["personnel_number"], "pin": person["pin"]}


class Stream:
    """Reads the event stream on a thread, like the kiosk does."""

    def __init__(self, d: KioskDock) -> None:
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._client = client(d)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from ui.client.sse import SseParser

        parser = SseParser()
        try:
            with self._client.stream("GET", "/api/kiosk/events") as resp:
                for line in resp.iter_lines():
                    ev = parser.feed(line)
                    if ev is not None:
                        with self._lock:
                            self.events.append((ev.event, json.loads(ev.data)))
        except httpx.HTTPError:
            pass

    def of(self, kind: str) -> list[Any]:
        with self._lock:
            return [d for e, d in self.events if e == kind]

    def close(self) -> None:
        self._client.close()


def test_snapshot_stream_checkout_and_checkin(kdock: KioskDock) -> None:
    from device_adapters.api import Wearer
    from station.crypto.signed import key_fingerprint

    c = client(kdock)
    # Last worn by C: docking it opens a check-in for C (a camera nobody wore opens none at the screen).
    cam = kdock.camera("CAM-A", recordings=2, wearer=Wearer(OFFICER_C["personnel_number"], OFFICER_C["name"]))
    stream = Stream(kdock)
    try:
        wait_for(lambda: bool(stream.of("snapshot")), 20, what="first snapshot")
        first = stream.of("snapshot")[0]
        assert [s["state"] for s in first["slots"]] == ["empty", "empty"]
        assert first["station"]["language"] == "nl"
        # First boot: the kiosk shows the signing key's fingerprint until the vault has taken something.
        assert first["station"]["key_fingerprint"] == key_fingerprint(kdock.daemon.station.signing_key)
        assert first["station"]["vault_received"] is False

        # Docked by an officer who never checked it out: a check-in opens; the stream says so.
        kdock.dock(1, cam)
        kdock.wait_state(1, "ready")
        wait_for(lambda: any(s["slots"][0]["state"] == "ready" for s in stream.of("snapshot")), 20)
        wait_for(lambda: c.get("/api/kiosk/snapshot").json()["station"]["vault_received"], 60, what="vault took it")
        notices = stream.of("notice")
        opened = [n for n in notices if n["type"] == "checkin_opened"]
        assert opened and opened[0]["slot_id"] == 1
        assert all("name" not in json.dumps(n) for n in notices)  # identifiers only

        # Check-out by PIN: the ready camera, with the slot to take it from.
        r = c.post("/api/kiosk/checkout", json=pin(OFFICER_A))
        assert r.status_code == 200, r.text
        assert r.json() == {"slot_id": 1, "slot_label": "1", "camera_serial": "CAM-A", "located": True}
        kdock.wait_state(1, "assigned")
        snap = c.get("/api/kiosk/snapshot").json()
        assert snap["slots"][0]["wearer_initials"] == "A.d.V."
        assert "A. de Vries" not in json.dumps(snap)

        # Nothing else is ready: refused with a code the kiosk translates.
        r = c.post("/api/kiosk/checkout", json=pin(OFFICER_C))
        assert r.status_code == 409 and r.json()["error"] == "no_camera"
        r = c.post("/api/kiosk/checkout", json={"personnel_number": OFFICER_C["personnel_number"], "pin": "0000"})
        assert r.status_code == 403 and r.json()["error"] == "bad_credentials"
    finally:
        stream.close()
        c.close()


def _walk_to_checkin(kdock: KioskDock, c: httpx.Client) -> int:
    from device_adapters.simulated.generate import record

    cam = kdock.camera("CAM-B", recordings=0)
    kdock.dock(1, cam)
    kdock.wait_state(1, "ready")
    assert c.post("/api/kiosk/checkout", json=pin(OFFICER_A)).status_code == 200
    kdock.undock(1)
    kdock.wait_state(1, "checked_out")
    record(cam, seconds=1)
    record(cam, seconds=1)
    kdock.dock(2, cam)

    def opened() -> bool:
        return any(ci["slot_id"] == 2 for ci in c.get("/api/kiosk/snapshot").json()["checkins"])

    wait_for(opened, 30, what="check-in open")
    return int(next(ci["id"] for ci in c.get("/api/kiosk/snapshot").json()["checkins"] if ci["slot_id"] == 2))


def test_checkin_session_tags_and_finish(kdock: KioskDock) -> None:
    c = client(kdock)
    try:
        cid = _walk_to_checkin(kdock, c)
        # Only the wearer opens the check-in at the kiosk.
        r = c.post("/api/kiosk/sessions", json={**pin(OFFICER_C), "purpose": "checkin", "checkin_id": cid})
        assert r.status_code == 403 and r.json()["error"] == "not_your_camera"
        # Identified first (no check-in named): the dock finds the wearer's docked camera, nobody else's.
        r = c.post("/api/kiosk/sessions", json={**pin(OFFICER_C), "purpose": "checkin"})
        assert r.status_code == 403 and r.json()["error"] == "not_your_camera"
        r = c.post("/api/kiosk/sessions", json={**pin(OFFICER_A), "purpose": "checkin"})
        assert r.status_code == 200 and r.json()["checkin_id"] == cid, r.text
        r = c.post("/api/kiosk/sessions", json={**pin(OFFICER_A), "purpose": "checkin", "checkin_id": cid})
        assert r.status_code == 200, r.text
        token = r.json()["session"]
        h = {"x-kiosk-session": token}
        assert c.get(f"/api/kiosk/checkins/{cid}").json()["error"] == "expired"
        wait_for(lambda: len(c.get(f"/api/kiosk/checkins/{cid}", headers=h).json()["recordings"]) == 2, 30)
        detail = c.get(f"/api/kiosk/checkins/{cid}", headers=h).json()
        assert detail["slot_id"] == 2 and detail["editable"] is True
        rec1, rec2 = (r["id"] for r in detail["recordings"])
        assert all(set(r) >= {"started_at", "duration_s", "size_bytes", "tag"} for r in detail["recordings"])

        r = c.post(f"/api/kiosk/checkins/{cid}/tags", headers=h,
                   json={"recording_id": rec1, "tag": "evidence", "case_number": "PL1300-2026-42"})
        assert r.status_code == 200, r.text
        r = c.post(f"/api/kiosk/checkins/{cid}/tags", headers=h,
                   json={"recording_id": rec2, "tag": "learning", "consent": {"given": True, "method": "verbal"}})
        assert r.status_code == 200, r.text
        tags = {x["id"]: (x["tag"], x["case_number"], x["consent"]) for x in r.json()["recordings"]}
        assert tags[rec1] == ("evidence", "PL1300-2026-42", None)
        assert tags[rec2] == ("learning", None, {"given": True, "method": "verbal"})
        r = c.post(f"/api/kiosk/checkins/{cid}/tags", headers=h, json={"recording_id": rec1, "tag": "evidence"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_tag"

        r = c.post(f"/api/kiosk/checkins/{cid}/finish", headers=h)
        assert r.status_code == 200 and r.json()["editable"] is False
        wait_for(lambda: c.get(f"/api/kiosk/checkins/{cid}", headers=h).json()["safe_to_leave"], 60,
                 what="safe to leave")
        # The station holds the tags: the journal and the audit log say who tagged what.
        journal = kdock.daemon.station.journal
        assert journal.shift.tag_row(rec1) is not None and journal.shift.tag_row(rec1).case_number == "PL1300-2026-42"
        assert journal.shift.checkin(cid) is not None and journal.shift.checkin(cid).closed_at is not None
        r = c.post(f"/api/kiosk/checkins/{cid}/tags", headers=h, json={"recording_id": rec1, "tag": "uncategorised"})
        assert r.status_code == 403 and r.json()["error"] == "closed"
    finally:
        c.close()


def test_staff_admin_and_alerts(kdock: KioskDock) -> None:
    c = client(kdock)
    try:
        r = c.post("/api/kiosk/sessions", json={**pin(OFFICER_A), "purpose": "staff"})
        assert r.status_code == 403 and r.json()["error"] == "not_allowed"
        kdock.daemon.station.alerts.raise_("vault-unreachable", Severity.WARN, "vault unreachable for 2 h")
        staff = c.post("/api/kiosk/sessions", json={**pin(STAFF), "purpose": "staff"}).json()
        h = {"x-kiosk-session": staff["session"]}
        assert staff["roles"] == ["staff"]
        health = c.get("/api/kiosk/staff/health", headers=h).json()
        assert {ch["name"] for ch in health["checks"]} >= {"store", "vault", "clock"}
        alert = next(a for a in health["alerts"] if a["kind"] == "vault_offline")
        assert c.post(f"/api/kiosk/staff/alerts/{alert['id']}/ack", headers=h).status_code == 200
        assert next(a for a in c.get("/api/kiosk/snapshot").json()["alerts"] if a["id"] == alert["id"])["acknowledged"]
        assert c.get("/api/kiosk/admin", headers=h).json()["error"] == "not_allowed"

        admin = c.post("/api/kiosk/sessions", json={**pin(ADMIN), "purpose": "staff"}).json()
        ha = {"x-kiosk-session": admin["session"]}
        info = c.get("/api/kiosk/admin", headers=ha).json()
        assert dict(map(tuple, info["config"]))["station.id"] == "test-dock"
        assert info["roster"]["officers"] == 5
        synced = c.post("/api/kiosk/admin/roster-sync", headers=ha).json()
        assert synced["message"] == "synchronised"
        c.request("DELETE", "/api/kiosk/sessions", headers=ha)
        assert c.get("/api/kiosk/admin", headers=ha).json()["error"] == "expired"
    finally:
        c.close()


def test_badge_follows_the_kiosk_purpose(kdock: KioskDock) -> None:
    c = client(kdock)
    stream = Stream(kdock)
    try:
        wait_for(lambda: bool(stream.of("snapshot")), 20)
        badge = kdock.daemon.runtime.badge_handler
        assert badge is not None
        # No camera ready: a badge at the reader on the home screen is a refused check-out.
        badge(OFFICER_A["badge_uid"])
        wait_for(lambda: any(n["type"] == "checkout_refused" for n in stream.of("notice")), 20)
        assert next(n for n in stream.of("notice") if n["type"] == "checkout_refused")["code"] == "no_camera"
        # The staff screen asks who is there: the same reader signs staff in instead.
        assert c.put("/api/kiosk/badge", json={"purpose": "staff"}).status_code == 200
        badge(OFFICER_A["badge_uid"])
        wait_for(lambda: any(n["type"] == "session_refused" for n in stream.of("notice")), 20)
        badge("DEADBEEF")
        wait_for(lambda: sum(n["type"] == "session_refused" for n in stream.of("notice")) == 2, 20)
        codes = [n["code"] for n in stream.of("notice") if n["type"] == "session_refused"]
        assert codes == ["not_allowed", "unknown_badge"]
    finally:
        stream.close()
        c.close()
    # The kiosk went away: a badge means check-out again.
    wait_for(lambda: kdock.daemon.runtime.badge_handler is not None and
             kdock.daemon.health is not None and _purpose(kdock) == "checkout", 10)


def _purpose(kdock: KioskDock) -> str:
    handler = kdock.daemon.runtime.badge_handler
    backend = getattr(handler, "__self__", None)
    return str(backend._badge[0]) if backend is not None else ""


@pytest.mark.parametrize(("key", "kind"), [
    ("vault-unreachable", "vault_offline"), ("health:vault", "vault_offline"), ("vault-host-key", "vault_problem"),
    ("health:store", "storage_low"), ("slot-fault:3", "slot_fault"), ("undocked-unassigned:CAM-1",
                                                                      "taken_without_checkout"),
    ("roster", "other")])
def test_alert_kinds(key: str, kind: str) -> None:
    assert alert_kind(key)[0] == kind


def test_refusal_codes_from_the_shift_service(tmp_path: Path) -> None:
    """The codes the kiosk translates, from the service's real refusals (a reworded message that
    no longer maps shows up here)."""
    from station.core.clocksync import FixedClockSync

    d = start_kiosk_dock(tmp_path, clock=FixedClockSync(False, "test: no time service"))
    c = client(d)
    try:
        d.dock(1, d.camera("CAM-A", recordings=0))
        d.wait_state(1, "ready")
        r = c.post("/api/kiosk/checkout", json=pin(OFFICER_A))
        assert r.status_code == 409 and r.json()["error"] == "clock_unsynchronised", r.text
        assert c.post("/api/kiosk/checkout", json={"badge": "DEADBEEF"}).json()["error"] == "unknown_badge"
        wrong = {"personnel_number": OFFICER_C["personnel_number"], "pin": "0000"}
        codes = [c.post("/api/kiosk/checkout", json=wrong).json() for _ in range(5)]
        assert [x["error"] for x in codes] == ["bad_credentials"] * 4 + ["locked_out"]
        assert codes[-1]["until"]
        r = c.post("/api/kiosk/checkout", json=pin(OFFICER_C))  # the right PIN, but locked
        assert r.status_code == 429 and r.json()["error"] == "locked_out"
    finally:
        c.close()
        d.stop()
