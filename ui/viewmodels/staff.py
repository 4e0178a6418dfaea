"""Staff: after a staff PIN (or badge), the dock's health checks and open alerts, which staff can
acknowledge. Admins continue to the admin screen from here."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ui.client.model import DomainNotice, Refusal, Session
from ui.client.service import Credentials, KioskService
from ui.client.staffmodel import HealthInfo
from ui.i18n import N_, Translator
from ui.viewmodels.base import ViewModel
from ui.viewmodels.fmt import Formatter
from ui.viewmodels.home import severity_words, staff_alert_text
from ui.viewmodels.identify import IdentifyFlow, IdentifyKeypad, IdentifyState
from ui.viewmodels.look import Icon, Tone
from ui.viewmodels.refusals import refusal_text
from ui.viewmodels.timeutil import utcnow

REFRESH_S = 5.0

CHECK_TITLES: dict[str, str] = {
    "store": N_("Dock storage"),
    "backlog": N_("Waiting for the vault"),
    "vault": N_("Vault contact"),
    "clock": N_("Clock"),
    "cpu_temperature": N_("Temperature"),
    "load": N_("Processor load"),
    "memory": N_("Memory"),
    "slots": N_("Slots"),
    "adapters": N_("Camera adapters"),
    "battery": N_("Camera batteries"),
    "keys": N_("Key files"),
    "audit": N_("Audit log"),
    "journal": N_("Journal"),
    "core": N_("Station core"),
}
_STATUS: dict[str, tuple[str, Icon, Tone]] = {
    "ok": (N_("OK"), Icon.CHECK, Tone.OK),
    "warn": (N_("Attention"), Icon.WARNING, Tone.WARN),
    "critical": (N_("Fault"), Icon.WARNING, Tone.FAULT),
    "unknown": (N_("Unknown"), Icon.DOTS, Tone.IDLE),
}


class Step(enum.StrEnum):
    IDENTIFY = "identify"
    LOADING = "loading"
    OVERVIEW = "overview"
    REFUSED = "refused"


@dataclass(frozen=True)
class CheckRow:
    name: str
    title: str
    status: str
    icon: Icon
    tone: Tone
    detail: str  # what is the case and what to do, in the kiosk's language
    expanded: bool = False  # tapped open: the whole text, wrapped; else one shortened line


@dataclass(frozen=True)
class AlertRow:
    alert_id: int
    text: str
    severity: str
    tone: Tone
    detail: str  # the station's reason; for a health alert its check's text in the kiosk's language
    since: str
    acknowledged: bool
    expanded: bool = False


@dataclass(frozen=True)
class StaffState:
    step: Step
    title: str
    message: str
    identify: IdentifyState | None = None
    overall: str = ""
    overall_tone: Tone = Tone.IDLE
    checks: tuple[CheckRow, ...] = ()
    alerts: tuple[AlertRow, ...] = ()
    staff_name: str = ""
    is_admin: bool = False


class StaffViewModel(ViewModel):
    def __init__(self, service: KioskService, t: Translator, *, timezone: str = "Europe/Amsterdam",
                 now: Callable[[], datetime] = utcnow) -> None:
        super().__init__()
        self.service, self.t, self.timezone, self._now = service, t, timezone, now
        self.flow = IdentifyFlow()
        self.keypad = IdentifyKeypad(flow=self.flow, active=lambda: self.step is Step.IDENTIFY,
                                     submit=self._login, changed=self._emit)
        self.step = Step.IDENTIFY
        self.session: Session | None = None
        self.health: HealthInfo | None = None
        self.refusal: Refusal | None = None
        self._gen = 0
        self._next_refresh = 0.0
        self._inflight = False
        self.expanded: set[str] = set()  # check names and "alert-<id>" tapped open
        self.state = self._build()

    def set_translator(self, t: Translator) -> None:
        self.t = t
        self._emit()

    def start(self) -> None:
        self.end_session()
        self._gen += 1
        self.flow.reset()
        self.step, self.health, self.refusal = Step.IDENTIFY, None, None
        self.expanded = set()
        self._emit()

    def end_session(self) -> None:
        if self.session is not None:
            self.service.logout(self.session.token)
            self.session = None

    def _login(self, cred: Credentials) -> None:
        self.step = Step.LOADING
        gen = self._gen
        self.service.login(cred, "staff", lambda r: self._on_login(gen, r))

    def _on_login(self, gen: int, result: Session | Refusal) -> None:
        if gen != self._gen:
            if isinstance(result, Session):
                self.service.logout(result.token)
            return
        if isinstance(result, Refusal):
            self.step, self.refusal = Step.REFUSED, result
            self._emit()
            return
        self.session = result
        self.refresh()

    def notice(self, n: DomainNotice) -> bool:
        if self.step is not Step.IDENTIFY or n.purpose != "staff":
            return False
        if n.type == "session" and n.session is not None:
            self.session, self.step = n.session, Step.LOADING
            self.refresh()
            return True
        if n.type == "session_refused":
            self.step, self.refusal = Step.REFUSED, Refusal(n.code or "failed", until=n.until)
            self._emit()
            return True
        return False

    def refresh(self) -> None:
        if self.session is None or self._inflight:
            return
        gen = self._gen
        self._inflight = True
        self.service.health(self.session.token, lambda r: self._on_health(gen, r))

    def _on_health(self, gen: int, result: HealthInfo | Refusal) -> None:
        if gen != self._gen:
            return
        self._inflight = False
        if isinstance(result, Refusal):
            self.step, self.refusal = Step.REFUSED, result
        else:
            self.health, self.step = result, Step.OVERVIEW
        self._emit()

    def toggle(self, key: str) -> None:
        """Open or close the whole text of a check (its name) or an alert ("alert-<id>")."""
        if self.step is not Step.OVERVIEW:
            return
        self.expanded ^= {key}
        self._emit()

    def acknowledge(self, alert_id: int) -> None:
        if self.session is None or self.step is not Step.OVERVIEW:
            return
        gen = self._gen
        self.service.acknowledge(self.session.token, alert_id, lambda r: self._on_ack(gen, r))

    def _on_ack(self, gen: int, result: bool | Refusal) -> None:
        if gen != self._gen:
            return
        if isinstance(result, Refusal) and result.code in ("expired", "not_allowed"):
            self.step, self.refusal = Step.REFUSED, result
            self._emit()
            return
        self.refresh()

    def tick(self, now: float) -> None:
        if self.step is Step.OVERVIEW and now >= self._next_refresh:
            self._next_refresh = now + REFRESH_S
            self.refresh()

    def _emit(self) -> None:
        self.state = self._build()
        self._changed()

    def _build(self) -> StaffState:
        t = self.t
        title = t("Staff")
        fmt = Formatter(t, self.timezone)
        if self.step is Step.IDENTIFY:
            return StaffState(self.step, title, t("Staff only"), identify=self.flow.state(t))
        if self.step is Step.LOADING:
            return StaffState(self.step, title, t("One moment…"))
        if self.step is Step.REFUSED:
            r = self.refusal or Refusal("failed")
            return StaffState(self.step, title, refusal_text(t, r, fmt, self._now()))
        h = self.health
        assert h is not None
        order = {"critical": 0, "warn": 1, "unknown": 2, "ok": 3}
        checks = []
        by_name = {}
        for c in sorted(h.checks, key=lambda c: (order.get(c.status, 2), c.name)):
            words, icon, tone = _STATUS.get(c.status, _STATUS["unknown"])
            said = c.words(t.language)
            title_c = t(CHECK_TITLES[c.name]) if c.name in CHECK_TITLES else said.title or c.title
            detail = f"{said.summary} {said.action}".strip()
            by_name[c.name] = detail
            checks.append(CheckRow(c.name, title_c, t(words), icon, tone, detail, c.name in self.expanded))
        now = self._now()
        alerts = []
        for a in sorted(h.alerts, key=lambda a: (a.acknowledged, a.severity != "critical", a.id)):
            # A health alert says what its check says (in this language); the station's own alerts
            # carry its English reason, which names what failed for technical support.
            check = a.key.partition(":")[2] if a.key.startswith("health:") else ""
            detail = by_name.get(check) or a.message
            alerts.append(AlertRow(a.id, staff_alert_text(t, a), severity_words(t, a.severity),
                                   Tone.FAULT if a.severity == "critical" else Tone.WARN, detail,
                                   fmt.day_clock(a.raised_at, now), a.acknowledged, f"alert-{a.id}" in self.expanded))
        words, _, tone = _STATUS.get(h.status, _STATUS["unknown"])
        session = self.session
        return StaffState(Step.OVERVIEW, title, "", overall=t(words), overall_tone=tone, checks=tuple(checks),
                          alerts=tuple(alerts), staff_name=session.name if session else "",
                          is_admin=bool(session and "admin" in session.roles))
