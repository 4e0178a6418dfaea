"""The shift: check-out, check-in and tagging as one typed, thread-safe facade over the station.

Plain Python, no UI: the kiosk builds its screens on this, the control socket (CLI) calls it,
the badge reader feeds it. Every method may be called from any thread; slot changes run on the
station's core thread through ``Station.call``, and waiting for a camera to be configured happens
on the caller's thread, never on the core. Every step is in the audit log with who, what, when
and why; PINs are never stored, logged or shown.

Listen with :meth:`ShiftService.subscribe` for :mod:`station.core.events` (a camera released, taken,
docked, a check-in opened or closed, a recording tagged, a lockout).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn

from device_adapters.api import Wearer
from station.core.checkout import CheckoutError, ReadyCamera
from station.core.clocksync import ClockStatus
from station.core.engine import SlotView, Station
from station.core.events import (
    CameraDocked,
    CameraReleased,
    CheckinClosed,
    CheckinOpened,
    CheckoutRefused,
    DomainEvent,
    Listener,
    LockedOut,
    RecordingTagged,
    Subscription,
)
from station.core.release import ReleaseOutcome, ReleasePlan, ReleaseRefused
from station.crypto.signed import open_manifest
from station.offload.tagging import Tag, TagRequest
from station.shift.badge import badge_hint
from station.shift.lockout import LockoutPolicy, PinLockout
from station.shift.manifest_reissue import ManifestReissuer
from station.shift.pins import burn_time, verify_pin
from station.shift.roster import Officer, Role, Roster
from station.shift.selection import NoCamera, Policy, choose
from station.storage.audit import SYSTEM
from station.storage.journal import RecStatus, VaultStatus
from station.storage.shift_journal import AssignmentState, CheckinRow
from station.timeutil import iso, parse_iso, utcnow

log = logging.getLogger(__name__)


# Slot states in which a camera found at start-up is still being taken in (a crash came between
# docking and the check-in being recorded, or the check-in is in progress).
_RETURNING = frozenset({"attached", "identified", "offloading", "verified", "wiping"})


# --- errors ------------------------------------------------------------------------------------


class ShiftError(Exception):
    """Base of the refusals below; the message is meant for the person at the dock."""


class AuthFailed(ShiftError):
    pass


class LockedOutError(AuthFailed):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many wrong PINs; try again after {until:%H:%M} UTC or ask staff")
        self.until = until


class CheckoutRefusedError(ShiftError):
    pass


class NotAllowed(ShiftError):
    pass


class NotFound(ShiftError):
    pass


# --- values --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftSettings:
    policy: Policy = "pool"
    min_battery_percent: int = 80
    firmware_current: Mapping[str, str] = field(default_factory=dict)  # camera model -> firmware
    recording_policy: Mapping[str, str] = field(default_factory=dict)  # pushed at check-out
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    locate: bool = True
    checkin_timeout_s: float = 1800.0  # an open check-in closes by itself after this
    release_wait_s: float = 60.0  # how long a check-out waits for the camera to be configured
    housekeeping_s: float = 5.0


@dataclass(frozen=True)
class Identity:
    """Who is at the dock, as proven by badge or PIN. Only this service makes them."""

    personnel_number: str
    name: str
    roles: frozenset[Role]
    method: str  # "badge" or "pin"
    at: datetime

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & {Role.STAFF, Role.ADMIN})


@dataclass(frozen=True)
class Checkout:
    slot_id: int
    camera_serial: str
    wearer_id: str
    wearer_name: str
    battery: int | None
    located: bool  # the camera flashes/beeps to show itself


@dataclass(frozen=True)
class RecordingSummary:
    """What the wearer sees of a recording: never imagery, only these facts."""

    recording_id: str
    started_at: str | None
    duration_s: float | None  # known once offloaded (from the media probe)
    size: int
    tag: str
    case_number: str | None
    consent: Mapping[str, Any] | None
    offloaded: bool  # a verified copy exists
    in_vault: bool


@dataclass(frozen=True)
class CheckinView:
    checkin_id: int
    slot_id: int
    camera_serial: str
    wearer_id: str | None
    wearer_name: str | None
    opened_at: str
    closed_at: str | None
    slot_state: str | None  # the camera's slot right now, if it is still there
    recordings: tuple[RecordingSummary, ...]

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


# --- the service -----------------------------------------------------------------------------------


class ShiftService:
    def __init__(
        self,
        station: Station,
        roster: Callable[[], Roster],
        settings: ShiftSettings,
        *,
        reissuer: ManifestReissuer | None = None,
    ) -> None:
        self.station, self.settings = station, settings
        self._roster = roster
        self.journal, self.audit, self.events = station.journal, station.audit, station.events
        self.lockout = PinLockout(self.journal, settings.lockout)
        self.reissuer = reissuer or ManifestReissuer(
            journal=station.journal, store=station.store, audit=station.audit, signing_key=station.signing_key,
            station_id=station.settings.station_id, on_requeued=station.deliverer.kick,
        )
        self._lock = threading.RLock()  # tag/finish/timeout decisions on one check-in, one at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sub: Subscription | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Call before ``Station.start`` so no docking event is missed."""
        self._sub = self.events.subscribe(self._on_event)
        self.reissuer.start()
        self._thread = threading.Thread(target=self._housekeeping, name="shift", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._sub is not None:
            self._sub.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.reissuer.stop()

    def subscribe(self, listener: Listener) -> Subscription:
        return self.events.subscribe(listener)

    # --- who is there ----------------------------------------------------------------------------
    def roster(self) -> Roster:
        return self._roster()

    def authenticate_pin(self, personnel_number: str, pin: str, *, via: str = "kiosk") -> Identity:
        number = personnel_number.strip()
        until = self.lockout.locked_until(number)
        if until is not None:
            self.audit.append(who=number or "unknown", what="auth.refused", why="locked out after wrong PINs",
                              result="locked", details={"via": via, "locked_until": iso(until)})
            raise LockedOutError(until)
        officer = self.roster().by_number(number) if number else None
        if officer is not None and officer.pin_hash is not None:
            ok = verify_pin(pin, officer.pin_hash)
            why = "wrong PIN"
        else:
            burn_time(pin)  # the same cost as a real check: timing does not tell which numbers exist
            ok, why = False, "unknown personnel number" if officer is None else "no PIN set for this officer"
        if not ok:
            failure = self.lockout.failure(number)
            self.audit.append(who=number or "unknown", what="auth.pin_failed", why=why, result="refused",
                              details={"via": via, "failures": failure.failures,
                                       "attempts": self.settings.lockout.attempts})
            if failure.locked_until is not None:
                self.audit.append(
                    who=number or "unknown", what="auth.locked_out",
                    why=f"{failure.failures} wrong PINs within {self.settings.lockout.minutes:g} minutes",
                    result="locked", details={"via": via, "locked_until": iso(failure.locked_until)})
                self.events.publish(LockedOut(personnel_number=number, until=failure.locked_until))
                raise LockedOutError(failure.locked_until)
            raise AuthFailed("wrong personnel number or PIN")
        assert officer is not None
        self.lockout.success(number)
        self.audit.append(who=number, what="auth.ok", why="personnel number and PIN", details={"via": via})
        return self._identity(officer, "pin")

    def authenticate_badge(self, uid: str, *, via: str = "badge reader") -> Identity:
        officer = self.roster().by_badge(uid)
        if officer is None:
            self.audit.append(who="unknown", what="auth.badge_unknown", why="badge is not in the roster",
                              result="refused", details={"via": via, "badge": badge_hint(uid)})
            raise AuthFailed("badge not recognised; use your personnel number and PIN, or ask staff")
        self.audit.append(who=officer.personnel_number, what="auth.ok", why="badge", details={"via": via})
        return self._identity(officer, "badge")

    @staticmethod
    def _identity(officer: Officer, method: str) -> Identity:
        return Identity(officer.personnel_number, officer.name, officer.roles, method, utcnow())

    def _officer(self, personnel_number: str) -> Officer:
        officer = self.roster().by_number(personnel_number)
        if officer is None:
            raise NotAllowed(f"{personnel_number} is no longer on the roster")
        return officer

    # --- check-out -------------------------------------------------------------------------------
    def checkout_by_badge(self, uid: str, *, via: str = "badge reader") -> Checkout:
        return self.checkout(self.authenticate_badge(uid, via=via))

    def checkout_by_pin(self, personnel_number: str, pin: str, *, via: str = "kiosk") -> Checkout:
        return self.checkout(self.authenticate_pin(personnel_number, pin, via=via))

    def checkout(self, who: Identity, *, for_officer: str | None = None) -> Checkout:
        """Give ``who`` (or, if staff, ``for_officer``) a camera by the configured policy."""
        actor = self._officer(who.personnel_number)
        officer = actor
        if for_officer is not None and for_officer != actor.personnel_number:
            if not who.is_staff:
                raise NotAllowed("only staff may check out a camera for someone else")
            officer = self._officer(for_officer)
        wearer = Wearer(officer.personnel_number, officer.name)
        live = self.journal.shift.live_assignment_for_wearer(officer.personnel_number)
        if live is not None and live.state == AssignmentState.ASSIGNED:
            # Asked twice (a second tap): the camera waiting in its slot is the answer.
            view = self._slot_view(live.slot_id)
            return Checkout(live.slot_id, live.camera_serial, officer.personnel_number, officer.name,
                            view.battery if view else None, located=False)
        if live is not None:
            self._refuse(who, officer, f"camera {live.camera_serial} is still checked out to you; return it first")
        plan = ReleasePlan(wearer=wearer, assigned_by=who.personnel_number, method=who.method,
                           settings=dict(self.settings.recording_policy), locate=self.settings.locate)
        s = self.settings

        def pick() -> tuple[ReadyCamera, Future[ReleaseOutcome]] | NoCamera:
            # On the core thread: choosing and reserving are one step, so two officers never get one camera.
            choice = choose(self.station.checkout.ready_cameras(), policy=s.policy, officer=officer,
                            min_battery=s.min_battery_percent, firmware_current=s.firmware_current)
            if isinstance(choice, NoCamera):
                return choice
            return choice, self.station.checkout.assign(choice.slot_id, plan)

        try:
            picked = self.station.call(pick)
        except CheckoutError as exc:
            self._refuse(who, officer, str(exc))
        if isinstance(picked, NoCamera):
            self._refuse(who, officer, picked.reason)
        camera, future = picked
        try:
            outcome = future.result(timeout=s.release_wait_s)
        except FutureTimeout:
            # The engine still finishes (or times out) the release; the audit log shows which.
            raise CheckoutRefusedError(f"the camera in slot {camera.slot_id} did not answer in time; "
                                       "try again or ask staff") from None
        if isinstance(outcome, ReleaseRefused):
            raise CheckoutRefusedError(outcome.reason)
        return Checkout(camera.slot_id, camera.serial, officer.personnel_number, officer.name, camera.battery,
                        outcome.located)

    def _refuse(self, who: Identity, officer: Officer, reason: str) -> NoReturn:
        self.audit.append(who=who.personnel_number, what="checkout.refused", why=reason, result="refused",
                          details={"wearer": officer.personnel_number, "policy": self.settings.policy})
        self.events.publish(CheckoutRefused(wearer_id=officer.personnel_number, reason=reason))
        raise CheckoutRefusedError(reason)

    def cancel_checkout(self, slot_id: int, who: Identity, reason: str) -> None:
        """Staff: put a released, not yet taken camera back to ready."""
        if not who.is_staff:
            raise NotAllowed("only staff may cancel a check-out")
        try:
            self.station.call(lambda: self.station.checkout.cancel_assignment(slot_id, who.personnel_number, reason))
        except CheckoutError as exc:
            raise NotFound(str(exc)) from None

    # --- check-in ----------------------------------------------------------------------------------
    def _on_event(self, ev: DomainEvent) -> None:
        if isinstance(ev, CameraDocked):
            self._camera_docked(ev)
        elif isinstance(ev, CameraReleased):
            # Handed to the next wearer: the previous wearer's check-in is over.
            latest = self.journal.shift.latest_checkin(ev.camera_serial)
            if latest is not None and latest.closed_at is None:
                self._close(latest, SYSTEM, "camera handed to the next wearer")

    def _camera_docked(self, ev: CameraDocked) -> None:
        with self._lock:
            latest = self.journal.shift.latest_checkin(ev.camera_serial)
            if ev.resumed and (latest is None or latest.closed_at is not None) and ev.slot_state not in _RETURNING:
                return  # restarted with a wiped (or handed-out) camera in its slot: not a check-in
            checkin = self.journal.shift.open_checkin(ev.camera_serial, ev.slot_id, ev.wearer_id)
            self.journal.shift.link_checkin_recordings(checkin)
            if latest is not None and latest.id == checkin.id:
                return  # continued (re-docked or restarted mid check-in)
            self.audit.append(who=ev.wearer_id or SYSTEM, what="checkin.opened", why="camera docked",
                              device=ev.camera_serial, details={"checkin": checkin.id, "slot": ev.slot_id,
                                                                "wearer": ev.wearer_id})
        self.events.publish(CheckinOpened(checkin_id=checkin.id, slot_id=ev.slot_id, camera_serial=ev.camera_serial,
                                          wearer_id=ev.wearer_id))

    def open_checkins(self) -> list[CheckinView]:
        return [self._view(c) for c in self.journal.shift.open_checkins()]

    def checkin(self, *, checkin_id: int | None = None, slot_id: int | None = None,
                camera_serial: str | None = None) -> CheckinView:
        """A check-in by id, or the latest one of the camera in ``slot_id`` / with ``camera_serial``."""
        row: CheckinRow | None = None
        if checkin_id is not None:
            row = self.journal.shift.checkin(checkin_id)
        else:
            serial = camera_serial
            if serial is None and slot_id is not None:
                view = self._slot_view(slot_id)
                serial = view.camera_serial if view else None
            row = self.journal.shift.latest_checkin(serial) if serial else None
        if row is None:
            raise NotFound("no such check-in")
        return self._view(row)

    def _view(self, row: CheckinRow) -> CheckinView:
        if row.closed_at is None:
            self.journal.shift.link_checkin_recordings(row)  # the offload may have found more since
        summaries = []
        for rec, tag in self.journal.shift.checkin_recordings(row.id):
            manifest = self.journal.shift.latest_manifest(rec.id)
            duration = None
            if manifest is not None:
                duration = (open_manifest(manifest.document).get("probe") or {}).get("duration_s")
            consent = None
            if tag.tag == Tag.LEARNING:
                consent = {"given": bool(tag.consent_given), "method": tag.consent_method, "note": tag.consent_note}
            summaries.append(RecordingSummary(
                recording_id=rec.id, started_at=rec.started_at, duration_s=duration, size=rec.size, tag=tag.tag,
                case_number=tag.case_number, consent=consent, offloaded=rec.status == RecStatus.VERIFIED.value,
                in_vault=rec.vault_status == VaultStatus.CONFIRMED.value,
            ))
        officer = self.roster().by_number(row.wearer_id) if row.wearer_id else None
        view = self._slot_view(row.slot_id)
        slot_state = view.state if view is not None and view.camera_serial == row.camera_serial else None
        return CheckinView(row.id, row.slot_id, row.camera_serial, row.wearer_id, officer.name if officer else None,
                           row.opened_at, row.closed_at, slot_state, tuple(summaries))

    def tag(self, recording_id: str, request: TagRequest, who: Identity, *, reason: str | None = None) -> None:
        """Tag a recording: its wearer while the check-in is open, otherwise staff (with a reason)."""
        req = request.validated()
        with self._lock:
            tag = self.journal.shift.tag_row(recording_id)
            rec = self.journal.recording(recording_id)
            if tag is None or rec is None:
                raise NotFound("no such recording")
            checkin = self.journal.shift.checkin(tag.checkin_id) if tag.checkin_id is not None else None
            own = checkin is not None and checkin.wearer_id == who.personnel_number
            if own and checkin is not None and checkin.closed_at is None:
                why = "check-in by the wearer"
            elif who.is_staff:
                if not (reason or "").strip():
                    raise NotAllowed("staff give a reason when changing a tag")
                why = f"staff: {reason}"
            elif own:
                raise NotAllowed("your check-in is closed; ask staff to change the tag")
            else:
                raise NotAllowed("only the wearer during check-in, or staff, may tag this recording")
            row = self.journal.shift.set_tag(
                recording_id, tag=req.tag.value, case_number=req.case_number,
                consent_given=None if req.consent is None else req.consent.given,
                consent_method=None if req.consent is None else req.consent.method.value,
                consent_note=None if req.consent is None else req.consent.note, by=who.personnel_number)
            details: dict[str, Any] = {"recording": recording_id, "checkin": tag.checkin_id, "tag": req.tag.value,
                                       "previous": tag.tag, "tag_revision": row.revision}
            if req.case_number:
                details["case_number"] = req.case_number
            if req.consent is not None:
                details["consent"] = {"given": req.consent.given, "method": req.consent.method.value,
                                      "note": req.consent.note}
            self.audit.append(who=who.personnel_number, what="recording.tagged", why=why, device=rec.camera_serial,
                              details=details)
        self.events.publish(RecordingTagged(checkin_id=tag.checkin_id, recording_id=recording_id, tag=req.tag.value,
                                            by=who.personnel_number))
        self.reissuer.kick()

    def finish_checkin(self, checkin_id: int, who: Identity) -> None:
        """The wearer leaves the check-in (untagged recordings stay ``uncategorised``)."""
        with self._lock:
            row = self.journal.shift.checkin(checkin_id)
            if row is None:
                raise NotFound("no such check-in")
            if row.wearer_id != who.personnel_number and not who.is_staff:
                raise NotAllowed("only the wearer or staff may finish this check-in")
            if row.closed_at is not None:
                return
            self._close(row, who.personnel_number, "finished by the wearer" if row.wearer_id == who.personnel_number
                        else "finished by staff")

    def _close(self, row: CheckinRow, by: str, reason: str) -> None:
        with self._lock:
            if not self.journal.shift.close_checkin(row.id, by, reason):
                return
            tags: dict[str, int] = {}
            for _rec, tag in self.journal.shift.checkin_recordings(row.id):
                tags[tag.tag] = tags.get(tag.tag, 0) + 1
            self.audit.append(who=by, what="checkin.closed", why=reason, device=row.camera_serial,
                              details={"checkin": row.id, "wearer": row.wearer_id, "recordings_by_tag": tags})
        self.events.publish(CheckinClosed(checkin_id=row.id, by=by, reason=reason))

    # --- status ----------------------------------------------------------------------------------------
    def slots(self) -> list[SlotView]:
        return self.station.views()

    def _slot_view(self, slot_id: int) -> SlotView | None:
        return next((v for v in self.station.views() if v.id == slot_id), None)

    def clock_status(self) -> ClockStatus | None:
        return self.station.clock.status() if self.station.clock is not None else None

    # --- housekeeping ----------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        while not self._stop.wait(self.settings.housekeeping_s):
            try:
                self.close_stale_checkins()
            except Exception:
                log.exception("shift housekeeping failed")

    def close_stale_checkins(self) -> int:
        limit = timedelta(seconds=self.settings.checkin_timeout_s)
        closed = 0
        for row in self.journal.shift.open_checkins():
            if utcnow() - parse_iso(row.opened_at) > limit:
                self._close(row, SYSTEM, f"check-in left open for {self.settings.checkin_timeout_s / 60:g} minutes")
                closed += 1
        return closed
