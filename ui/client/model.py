"""What the local API sends, as frozen dataclasses; parsing is lenient about extra keys so an
older kiosk keeps working against a newer daemon."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _time(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None


def _obj(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _list(v: Any) -> Sequence[Any]:
    return v if isinstance(v, list) else []


@dataclass(frozen=True)
class Progress:
    recordings_done: int = 0
    recordings_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0

    @property
    def fraction(self) -> float | None:
        if self.bytes_total > 0:
            return min(1.0, self.bytes_done / self.bytes_total)
        if self.recordings_total > 0:
            return min(1.0, self.recordings_done / self.recordings_total)
        return None

    @classmethod
    def parse(cls, d: Any) -> Progress:
        o = _obj(d)
        return cls(*(int(_int(o.get(k)) or 0) for k in ("recordings_done", "recordings_total", "bytes_done",
                                                          "bytes_total")))


@dataclass(frozen=True)
class SlotInfo:
    id: int
    label: str
    state: str
    battery: int | None = None
    wearer_initials: str | None = None
    progress: Progress = field(default_factory=Progress)
    fault: str | None = None
    notice: str | None = None

    @classmethod
    def parse(cls, d: Any) -> SlotInfo:
        o = _obj(d)
        sid = _int(o.get("id")) or 0
        return cls(id=sid, label=_str(o.get("label")) or str(sid), state=_str(o.get("state")) or "unknown",
                   battery=_int(o.get("battery")), wearer_initials=_str(o.get("wearer_initials")),
                   progress=Progress.parse(o.get("progress")), fault=_str(o.get("fault")),
                   notice=_str(o.get("notice")))


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str  # vault_offline, storage_low, ... (the kiosk translates by kind)
    severity: str  # warn | critical
    message: str  # English detail for staff
    acknowledged: bool = False
    slot_id: int | None = None
    raised_at: datetime | None = None
    key: str = ""  # the station's alert key, e.g. "health:vault" (a health alert names its check)

    @classmethod
    def parse(cls, d: Any) -> Alert:
        o = _obj(d)
        return cls(id=_int(o.get("id")) or 0, kind=_str(o.get("kind")) or "other",
                   severity=_str(o.get("severity")) or "warn", message=_str(o.get("message")) or "",
                   acknowledged=o.get("acknowledged") is True, slot_id=_int(o.get("slot_id")),
                   raised_at=_time(o.get("raised_at")), key=_str(o.get("key")) or "")


@dataclass(frozen=True)
class OpenCheckin:
    id: int
    slot_id: int
    slot_label: str
    camera_serial: str

    @classmethod
    def parse(cls, d: Any) -> OpenCheckin:
        o = _obj(d)
        sid = _int(o.get("slot_id")) or 0
        return cls(id=_int(o.get("id")) or 0, slot_id=sid, slot_label=_str(o.get("slot_label")) or str(sid),
                   camera_serial=_str(o.get("camera_serial")) or "")


@dataclass(frozen=True)
class StationInfo:
    id: str = ""
    name: str = ""
    version: str = ""
    language: str = "nl"
    timezone: str = "Europe/Amsterdam"
    key_fingerprint: str = ""  # the station signing key's, for registering the dock at the vault
    vault_received: bool = True  # False until the vault took anything from this dock

    @classmethod
    def parse(cls, d: Any) -> StationInfo:
        o = _obj(d)
        return cls(id=_str(o.get("id")) or "", name=_str(o.get("name")) or "", version=_str(o.get("version")) or "",
                   language=_str(o.get("language")) or "nl", timezone=_str(o.get("timezone")) or "Europe/Amsterdam",
                   key_fingerprint=_str(o.get("key_fingerprint")) or "",
                   vault_received=o.get("vault_received") is not False)


@dataclass(frozen=True)
class Snapshot:
    station: StationInfo
    slots: tuple[SlotInfo, ...]
    alerts: tuple[Alert, ...]
    checkins: tuple[OpenCheckin, ...] = ()

    @classmethod
    def parse(cls, d: Any) -> Snapshot:
        o = _obj(d)
        return cls(station=StationInfo.parse(o.get("station")),
                   slots=tuple(SlotInfo.parse(s) for s in _list(o.get("slots"))),
                   alerts=tuple(Alert.parse(a) for a in _list(o.get("alerts"))),
                   checkins=tuple(OpenCheckin.parse(c) for c in _list(o.get("checkins"))))


@dataclass(frozen=True)
class DomainNotice:
    """A pushed event, reduced to identifiers and codes (never names of wearers)."""

    type: str  # checkout_started | checkout_done | checkout_refused | session | session_refused | slot | checkin
    slot_id: int | None = None
    slot_label: str | None = None
    camera_serial: str | None = None
    checkin_id: int | None = None
    code: str | None = None  # refusal code
    until: datetime | None = None
    purpose: str | None = None  # for session notices
    session: Session | None = None

    @classmethod
    def parse(cls, d: Any) -> DomainNotice:
        o = _obj(d)
        sess = Session.parse(o["session"]) if isinstance(o.get("session"), Mapping) else None
        return cls(type=_str(o.get("type")) or "", slot_id=_int(o.get("slot_id")),
                   slot_label=_str(o.get("slot_label")), camera_serial=_str(o.get("camera_serial")),
                   checkin_id=_int(o.get("checkin_id")), code=_str(o.get("code")), until=_time(o.get("until")),
                   purpose=_str(o.get("purpose")), session=sess)


@dataclass(frozen=True)
class Consent:
    given: bool
    method: str  # verbal | written | on_camera | not_asked


@dataclass(frozen=True)
class Recording:
    id: str
    started_at: datetime | None
    duration_s: float | None
    size_bytes: int
    tag: str = "uncategorised"
    case_number: str | None = None
    consent: Consent | None = None
    safe: bool = False  # a durable verified copy exists

    @classmethod
    def parse(cls, d: Any) -> Recording:
        o = _obj(d)
        c = o.get("consent")
        consent = None
        if isinstance(c, Mapping) and isinstance(c.get("method"), str):
            consent = Consent(given=c.get("given") is True, method=str(c["method"]))
        dur = o.get("duration_s")
        return cls(id=_str(o.get("id")) or "", started_at=_time(o.get("started_at")),
                   duration_s=float(dur) if isinstance(dur, int | float) else None,
                   size_bytes=_int(o.get("size_bytes")) or 0, tag=_str(o.get("tag")) or "uncategorised",
                   case_number=_str(o.get("case_number")), consent=consent, safe=o.get("safe") is True)


@dataclass(frozen=True)
class CheckinDetail:
    id: int
    slot_id: int
    slot_label: str
    camera_serial: str
    camera_model: str | None
    recordings: tuple[Recording, ...]
    progress: Progress
    safe_to_leave: bool
    editable: bool = True  # tags may still be changed by the wearer
    listing: bool = False  # the camera is still being asked what it holds

    @classmethod
    def parse(cls, d: Any) -> CheckinDetail:
        o = _obj(d)
        sid = _int(o.get("slot_id")) or 0
        return cls(id=_int(o.get("id")) or 0, slot_id=sid, slot_label=_str(o.get("slot_label")) or str(sid),
                   camera_serial=_str(o.get("camera_serial")) or "", camera_model=_str(o.get("camera_model")),
                   recordings=tuple(Recording.parse(r) for r in _list(o.get("recordings"))),
                   progress=Progress.parse(o.get("progress")), safe_to_leave=o.get("safe_to_leave") is True,
                   editable=o.get("editable") is not False, listing=o.get("listing") is True)


@dataclass(frozen=True)
class CheckoutDone:
    slot_id: int
    slot_label: str
    camera_serial: str
    located: bool

    @classmethod
    def parse(cls, d: Any) -> CheckoutDone:
        o = _obj(d)
        sid = _int(o.get("slot_id")) or 0
        return cls(slot_id=sid, slot_label=_str(o.get("slot_label")) or str(sid),
                   camera_serial=_str(o.get("camera_serial")) or "", located=o.get("located") is True)


@dataclass(frozen=True)
class Session:
    """A short-lived server-side session after badge or PIN; its token goes with each request."""

    token: str
    name: str
    roles: tuple[str, ...]
    checkin_id: int | None = None  # a check-in session: the check-in the dock found for this wearer

    @classmethod
    def parse(cls, d: Any) -> Session:
        o = _obj(d)
        return cls(token=_str(o.get("session")) or "", name=_str(o.get("name")) or "",
                   roles=tuple(r for r in _list(o.get("roles")) if isinstance(r, str)),
                   checkin_id=_int(o.get("checkin_id")))


@dataclass(frozen=True)
class Refusal:
    """The station said no (or could not be reached): ``code`` picks the translated text."""

    code: str
    message: str = ""
    until: datetime | None = None
    status: int = 0

    @classmethod
    def parse(cls, d: Any, status: int) -> Refusal:
        o = _obj(d)
        return cls(code=_str(o.get("error")) or "failed", message=_str(o.get("message")) or "",
                   until=_time(o.get("until")), status=status)


UNREACHABLE = Refusal("unreachable", "the station does not answer")
