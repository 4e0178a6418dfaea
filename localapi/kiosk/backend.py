"""The kiosk's side of the daemon: snapshots for the home grid, sessions, and every check-out,
check-in and tagging request passed to the shift service (``station.shift``), with its
refusals turned into codes the kiosk translates. Blocking; the web layer calls it on worker
threads. No footage, no full names on the wire except the signed-in person's own.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from config.model import StationConfig
from health import fmt
from health.report import HealthReport, report_json
from localapi.kiosk.codes import KioskRefusal, alert_kind, checkout_code, tag_request
from localapi.kiosk.notices import NoticeHub
from localapi.kiosk.sessions import KioskSession, Sessions
from station import __version__
from station.core.engine import SlotView
from station.core.events import CheckinOpened, DomainEvent
from station.crypto.signed import key_fingerprint
from station.shift import (
    CheckinView,
    Identity,
    NotAllowed,
    NotFound,
    ShiftError,
    ShiftService,
    TagError,
)
from station.shift.badge import badge_hint
from station.shift.roster import Role, RosterKeeper
from station.storage.journal import AlertRow
from station.timeutil import iso

log = logging.getLogger(__name__)

# Slot states in which the camera's footage is copied and verified (nothing left to wait for).
_PAST_OFFLOAD = frozenset({"verified", "wiping", "charging", "ready", "assigned"})
ROSTER_ALERT = "roster"


class StatusSource(Protocol):
    def report(self) -> HealthReport: ...

    def acknowledge(self, alert_id: int, who: str) -> bool: ...


class KioskBackend:
    def __init__(self, cfg: StationConfig, shift: ShiftService, status: StatusSource, *,
                 roster: RosterKeeper | None = None) -> None:
        self.cfg, self.shift, self.status, self.roster = cfg, shift, status, roster
        self.station = shift.station
        self.sessions = Sessions()
        self.notices = NoticeHub()
        self._labels = {s.id: s.label for s in cfg.slots}
        # Shown on the home screen until the vault has taken something from this dock (first boot).
        self._fingerprint = key_fingerprint(self.station.signing_key)
        self._delivered = False
        self._badge: tuple[str, int | None] = ("checkout", None)
        self._badge_lock = threading.Lock()
        self.closing = threading.Event()
        self._sub = shift.subscribe(self._on_event)

    def close(self) -> None:
        """The daemon is stopping: event streams end (within one poll), nothing more is published."""
        self.closing.set()
        self._sub.close()

    # --- the home grid -------------------------------------------------------------------------
    def _initials(self, v: SlotView) -> str | None:
        # Only while a released camera waits in its slot, to help its wearer find it: who has which
        # camera out is not shown on a screen in a public hallway.
        if v.state != "assigned" or not v.camera_serial:
            return None
        live = self.station.journal.shift.live_assignment(v.camera_serial)
        return fmt.initials(live.wearer_name) if live is not None else None

    def _slot_json(self, v: SlotView) -> dict[str, Any]:
        notice = "storage_full" if v.notice == "dock storage full" else None
        return {
            "id": v.id, "label": self._labels.get(v.id, str(v.id)), "state": v.state, "battery": v.battery,
            "wearer_initials": self._initials(v), "fault": v.fault_reason, "notice": notice,
            "progress": {"recordings_done": v.recordings_done, "recordings_total": v.recordings_total,
                         "bytes_done": v.bytes_done, "bytes_total": v.bytes_total},
        }

    def _alert_json(self, a: AlertRow) -> dict[str, Any]:
        kind, slot = alert_kind(a.key)
        return {"id": a.id, "key": a.key, "kind": kind, "slot_id": slot, "severity": a.severity, "message": a.message,
                "acknowledged": a.acked_at is not None, "raised_at": a.raised_at}

    def _open_checkins(self, views: list[SlotView] | None = None) -> list[dict[str, Any]]:
        in_slot = {v.camera_serial: v for v in (views if views is not None else self.station.views())
                   if v.camera_serial}
        out = []
        for row in self.station.journal.shift.open_checkins():
            v = in_slot.get(row.camera_serial)
            if v is None or v.id != row.slot_id or row.wearer_id is None:
                # Gone from that slot, or nobody wore it (a new camera): nobody to check in at the screen.
                continue
            out.append({"id": row.id, "slot_id": row.slot_id, "slot_label": self._labels.get(row.slot_id),
                        "camera_serial": row.camera_serial, "wearer_id": row.wearer_id})
        return out

    def _vault_has_received(self) -> bool:
        """Sticky: once the vault confirmed a recording or an audit segment, the dock was registered there."""
        if not self._delivered:
            j = self.station.journal
            self._delivered = (any(s.vault_status == "confirmed" for s in j.audit_segments())
                               or any(r.vault_status == "confirmed" for r in j.recordings()))
        return self._delivered

    def snapshot(self) -> dict[str, Any]:
        views = self.station.views()
        checkins = [{k: v for k, v in c.items() if k != "wearer_id"} for c in self._open_checkins(views)]
        st = self.cfg.station
        return {
            "station": {"id": st.id, "name": st.name, "version": __version__, "language": st.language,
                        "timezone": st.timezone, "key_fingerprint": self._fingerprint,
                        "vault_received": self._vault_has_received()},
            "slots": [self._slot_json(v) for v in views],
            "alerts": [self._alert_json(a) for a in self.station.alerts.open()],
            "checkins": checkins,
        }

    def snapshot_text(self) -> str:
        return json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))

    def _on_event(self, ev: DomainEvent) -> None:
        # Any domain event: streams recompute their snapshot now instead of at the next poll.
        self.notices.publish({"type": "wake"})
        if isinstance(ev, CheckinOpened) and ev.wearer_id is not None:  # someone to check in
            self.notices.publish({"type": "checkin_opened", "checkin_id": ev.checkin_id, "slot_id": ev.slot_id,
                                  "slot_label": self._labels.get(ev.slot_id)})

    # --- identification ------------------------------------------------------------------------
    def _auth(self, body: Mapping[str, Any]) -> Identity:
        try:
            if isinstance(body.get("badge"), str):
                return self.shift.authenticate_badge(body["badge"], via="kiosk")
            number, pin = body.get("personnel_number"), body.get("pin")
            if not isinstance(number, str) or not isinstance(pin, str):
                raise KioskRefusal("bad_request", "give a badge, or a personnel number and PIN", status=400)
            return self.shift.authenticate_pin(number, pin, via="kiosk")
        except ShiftError as exc:
            code, until = checkout_code(exc)
            raise KioskRefusal(code, str(exc), status=429 if code == "locked_out" else 403, until=until) from None

    def _session(self, token: str | None, *, purpose: str | None = None, role: Role | None = None) -> KioskSession:
        s = self.sessions.get(token)
        if s is None:
            raise KioskRefusal("expired", "sign in again", status=401)
        if purpose is not None and s.purpose != purpose:
            raise KioskRefusal("not_allowed", f"this session is for {s.purpose}", status=403)
        if role is not None and role not in s.identity.roles:
            raise KioskRefusal("not_allowed", f"needs the {role.value} role", status=403)
        return s

    def open_session(self, body: Mapping[str, Any]) -> dict[str, Any]:
        purpose = body.get("purpose")
        checkin_id = body.get("checkin_id")
        if purpose not in ("checkin", "staff"):
            raise KioskRefusal("bad_request", "purpose is checkin or staff", status=400)
        if purpose == "checkin" and checkin_id is not None and not isinstance(checkin_id, int):
            raise KioskRefusal("bad_request", "checkin_id is a number", status=400)
        who = self._auth(body)
        return self._grant(who, str(purpose), checkin_id if isinstance(checkin_id, int) else None)

    def _grant(self, who: Identity, purpose: str, checkin_id: int | None) -> dict[str, Any]:
        if purpose == "staff" and not who.is_staff:
            raise KioskRefusal("not_allowed", "staff only", status=403)
        if purpose == "checkin":
            if checkin_id is None:
                # Identified first: the check-in of a docked camera handed out to this wearer.
                checkin_id = self._checkin_for(who)
            view = self._checkin_view(checkin_id)
            if not view.is_open:
                raise KioskRefusal("not_found", "this check-in is closed", status=404)
            if view.wearer_id != who.personnel_number:
                # Tags are the wearer's call at the dock; staff change them later with a reason (CLI).
                raise KioskRefusal("not_your_camera", "this camera was not handed out to you", status=403)
        s = self.sessions.open(who, purpose, checkin_id)
        return {"session": s.token, "name": who.name, "roles": sorted(r.value for r in who.roles),
                "checkin_id": checkin_id}

    def _checkin_for(self, who: Identity) -> int:
        """The newest open check-in, of a camera still in its slot, that was handed out to ``who``."""
        mine = [c for c in self._open_checkins() if c["wearer_id"] == who.personnel_number]
        if not mine:
            raise KioskRefusal("not_your_camera", "no docked camera was handed out to you", status=403)
        return int(max(c["id"] for c in mine))

    def close_session(self, token: str | None) -> None:
        self.sessions.close(token)

    # --- check-out -------------------------------------------------------------------------------
    def checkout(self, body: Mapping[str, Any]) -> dict[str, Any]:
        who = self._auth(body)
        try:
            got = self.shift.checkout(who)
        except ShiftError as exc:
            code, until = checkout_code(exc)
            raise KioskRefusal(code, str(exc), until=until) from None
        return {"slot_id": got.slot_id, "slot_label": self._labels.get(got.slot_id, str(got.slot_id)),
                "camera_serial": got.camera_serial, "located": got.located}

    # --- check-in --------------------------------------------------------------------------------
    def _checkin_view(self, checkin_id: int) -> CheckinView:
        try:
            return self.shift.checkin(checkin_id=checkin_id)
        except NotFound:
            raise KioskRefusal("not_found", "no such check-in", status=404) from None

    def _detail(self, view: CheckinView) -> dict[str, Any]:
        slot = next((v for v in self.station.views() if v.id == view.slot_id), None)
        here = slot is not None and slot.camera_serial == view.camera_serial
        recs = view.recordings
        copied = all(r.offloaded for r in recs)
        past = view.slot_state in _PAST_OFFLOAD if view.slot_state is not None else bool(recs)
        progress = {"recordings_done": sum(1 for r in recs if r.offloaded), "recordings_total": len(recs),
                    "bytes_done": 0, "bytes_total": 0}
        if here and slot is not None and slot.state == "offloading":
            progress.update(bytes_done=slot.bytes_done, bytes_total=slot.bytes_total)
        return {
            "id": view.checkin_id, "slot_id": view.slot_id,
            "slot_label": self._labels.get(view.slot_id, str(view.slot_id)), "camera_serial": view.camera_serial,
            "camera_model": slot.model if here and slot is not None else None,
            "recordings": [{
                "id": r.recording_id, "started_at": r.started_at, "duration_s": r.duration_s, "size_bytes": r.size,
                "tag": r.tag, "case_number": r.case_number,
                "consent": None if r.consent is None else {"given": bool(r.consent.get("given")),
                                                           "method": r.consent.get("method")},
                "safe": r.offloaded,
            } for r in recs],
            "progress": progress,
            # Docked but not yet listed: the recordings are still being looked up on the camera.
            "listing": here and slot is not None and slot.state in ("attached", "identified"),
            "safe_to_leave": copied and past,
            "editable": view.is_open,
        }

    def _checkin_session(self, token: str | None, checkin_id: int) -> KioskSession:
        s = self._session(token, purpose="checkin")
        if s.checkin_id != checkin_id:
            raise KioskRefusal("not_allowed", "this session is for another check-in", status=403)
        return s

    def checkin(self, token: str | None, checkin_id: int) -> dict[str, Any]:
        self._checkin_session(token, checkin_id)
        return self._detail(self._checkin_view(checkin_id))

    def tag(self, token: str | None, checkin_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        s = self._checkin_session(token, checkin_id)
        rec_id = body.get("recording_id")
        view = self._checkin_view(checkin_id)
        if not isinstance(rec_id, str) or all(r.recording_id != rec_id for r in view.recordings):
            raise KioskRefusal("not_found", "no such recording in this check-in", status=404)
        try:
            request = tag_request(body)
            self.shift.tag(rec_id, request, s.identity)
        except TagError as exc:
            raise KioskRefusal("invalid_tag", str(exc), status=400) from None
        except NotAllowed as exc:
            raise KioskRefusal("closed", str(exc), status=403) from None
        except ShiftError as exc:
            raise KioskRefusal(checkout_code(exc)[0], str(exc)) from None
        return self._detail(self._checkin_view(checkin_id))

    def finish(self, token: str | None, checkin_id: int) -> dict[str, Any]:
        s = self._checkin_session(token, checkin_id)
        try:
            self.shift.finish_checkin(checkin_id, s.identity)
        except ShiftError as exc:
            raise KioskRefusal(checkout_code(exc)[0], str(exc)) from None
        return self._detail(self._checkin_view(checkin_id))

    # --- staff and admin -------------------------------------------------------------------------
    def staff_health(self, token: str | None) -> dict[str, Any]:
        self._session(token, purpose="staff")
        doc = report_json(self.status.report(), public=False)
        doc["alerts"] = [self._alert_json(a) for a in self.station.alerts.open()]
        return doc

    def acknowledge(self, token: str | None, alert_id: int) -> dict[str, Any]:
        s = self._session(token, purpose="staff")
        if not self.status.acknowledge(alert_id, s.identity.personnel_number):
            raise KioskRefusal("not_found", f"alert {alert_id} is not open or already acknowledged", status=409)
        return {"acknowledged": alert_id}

    def admin(self, token: str | None, message: str | None = None) -> dict[str, Any]:
        self._session(token, purpose="staff", role=Role.ADMIN)
        cfg = self.cfg
        p = cfg.policies
        pairs = [
            ("station.id", cfg.station.id), ("station.name", cfg.station.name),
            ("slots", ", ".join(s.label for s in cfg.slots)), ("dock.source", cfg.dock.source),
            ("vault.target", cfg.vault.target), ("vault.recipients", str(len(cfg.vault.recipients))),
            ("policies.verify", p.verify), ("policies.wipe_after", p.wipe_after),
            ("policies.min_battery_percent", f"{p.min_battery_percent}%"),
            ("policies.retention_days", str(p.retention_days)),
            ("store.reserve_mb", str(cfg.store.reserve_bytes // (1024 * 1024))),
            ("checkout.policy", cfg.checkout.policy), ("language", cfg.station.language),
        ]
        current = self.shift.roster()
        problem = next((a.message for a in self.station.alerts.open() if a.key == ROSTER_ALERT), None)
        return {"version": __version__, "config": [list(p) for p in pairs],
                "roster": {"source": current.source, "officers": len(current.officers), "sha256": current.sha256,
                           "problem": problem},
                "message": message}

    def roster_sync(self, token: str | None) -> dict[str, Any]:
        s = self._session(token, purpose="staff", role=Role.ADMIN)
        if self.roster is None:
            raise KioskRefusal("roster_unavailable", "no roster is configured", status=409)
        ok = self.roster.refresh()
        self.station.audit.append(who=s.identity.personnel_number, what="roster.sync", why="asked at the kiosk",
                                  result="ok" if ok else "failed", device=self.cfg.station.id)
        if not ok:
            raise KioskRefusal("roster_unavailable", "the roster could not be loaded; the previous one stays")
        return self.admin(token, message="synchronised")

    # --- the badge reader --------------------------------------------------------------------------
    def set_badge_purpose(self, body: Mapping[str, Any]) -> dict[str, Any]:
        purpose, checkin_id = body.get("purpose"), body.get("checkin_id")
        if purpose not in ("checkout", "checkin", "staff", "none"):
            raise KioskRefusal("bad_request", "purpose is checkout, checkin, staff or none", status=400)
        with self._badge_lock:
            self._badge = (str(purpose), checkin_id if isinstance(checkin_id, int) else None)
        return {"purpose": purpose}

    def kiosk_gone(self) -> None:
        """The last event stream closed (kiosk crashed or restarting): a badge means check-out again."""
        if self.notices.listeners == 0:
            with self._badge_lock:
                self._badge = ("checkout", None)

    def on_badge(self, uid: str) -> None:
        """Called by the daemon's badge reader thread with a complete UID."""
        with self._badge_lock:
            purpose, checkin_id = self._badge
        log.info("badge %s read for %s", badge_hint(uid), purpose)
        if purpose == "checkout":
            self.notices.publish({"type": "checkout_started"})
            try:
                got = self.shift.checkout_by_badge(uid, via="kiosk badge reader")
            except ShiftError as exc:
                code, until = checkout_code(exc)
                self.notices.publish({"type": "checkout_refused", "code": code,
                                      "until": iso(until) if until else None})
                return
            self.notices.publish({"type": "checkout_done", "slot_id": got.slot_id,
                                  "slot_label": self._labels.get(got.slot_id, str(got.slot_id)),
                                  "camera_serial": got.camera_serial})
        elif purpose in ("checkin", "staff"):
            try:
                who = self.shift.authenticate_badge(uid, via="kiosk badge reader")
                granted = self._grant(who, purpose, checkin_id)
            except ShiftError as exc:
                code, until = checkout_code(exc)
                self.notices.publish({"type": "session_refused", "purpose": purpose, "code": code,
                                      "until": iso(until) if until else None})
                return
            except KioskRefusal as exc:
                self.notices.publish({"type": "session_refused", "purpose": purpose, "code": exc.code})
                return
            self.notices.publish({"type": "session", "purpose": purpose,
                                  "checkin_id": granted.get("checkin_id", checkin_id), "session": granted})


