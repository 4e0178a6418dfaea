"""Check-in: the docked camera is identified by the station; the wearer identifies, sees the
recordings (start time, duration, size; never imagery), tags each one, and waits until the dock
says every recording is safely copied."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ui.client.model import CheckinDetail, DomainNotice, OpenCheckin, Recording, Refusal, Session
from ui.client.service import Credentials, KioskService, TagChoice
from ui.i18n import N_, Translator
from ui.viewmodels.base import ViewModel
from ui.viewmodels.fmt import Formatter
from ui.viewmodels.identify import IdentifyFlow, IdentifyKeypad, IdentifyState
from ui.viewmodels.keypad import Entry, case_entry
from ui.viewmodels.look import Icon, Tone
from ui.viewmodels.refusals import refusal_text
from ui.viewmodels.timeutil import utcnow

POLL_S = 1.5  # while waiting until it is safe to leave


class Step(enum.StrEnum):
    CHOOSE = "choose"  # no camera to check in yet: put it in a slot (a choice only if the kiosk is told one)
    IDENTIFY = "identify"  # who you are first; the dock then finds the camera handed out to you
    LOADING = "loading"
    LIST = "list"
    TAG = "tag"  # evidence / learning / nothing for one recording
    CASE = "case"  # case number for evidence
    CONSENT = "consent"  # did the filmed person consent
    CONSENT_HOW = "consent_how"
    WAIT = "wait"  # finished tagging; copying goes on
    DONE = "done"  # safe to leave
    REFUSED = "refused"


CONSENT_METHODS: tuple[tuple[str, str], ...] = (
    ("verbal", N_("Verbally")),
    ("written", N_("In writing")),
    ("on_camera", N_("On camera")),
)


@dataclass(frozen=True)
class Choice:
    checkin_id: int
    text: str


@dataclass(frozen=True)
class RecordingRow:
    recording_id: str
    number: int
    when: str
    duration: str
    size: str
    summary: str  # "Started 14:05 · length 3:12 · 45,2 MB" in words
    tag: str  # the tag in words
    tag_icon: Icon
    copied: str  # copy state in words
    copied_icon: Icon


@dataclass(frozen=True)
class CheckinState:
    step: Step
    title: str
    message: str
    identify: IdentifyState | None = None
    choices: tuple[Choice, ...] = ()
    rows: tuple[RecordingRow, ...] = ()
    editing: RecordingRow | None = None
    case_number: str = ""
    progress: float | None = None
    icon: Icon = Icon.CAMERA
    tone: Tone = Tone.IDLE
    can_next: bool = False  # e.g. a case number long enough


def tag_words(t: Translator, r: Recording) -> tuple[str, Icon]:
    if r.tag == "evidence":
        return t("Evidence · case {case}").format(case=r.case_number or "?"), Icon.LOCK
    if r.tag == "learning":
        if r.consent is None or not r.consent.given:
            return t("Learning · no consent"), Icon.PERSON
        return t("Learning · consent given"), Icon.PERSON
    return t("No label"), Icon.EMPTY


class CheckinViewModel(ViewModel):
    def __init__(self, service: KioskService, t: Translator, *, timezone: str = "Europe/Amsterdam",
                 now: Callable[[], datetime] = utcnow) -> None:
        super().__init__()
        self.service, self.t, self.timezone, self._now = service, t, timezone, now
        self.flow = IdentifyFlow()
        self.keypad = IdentifyKeypad(flow=self.flow, active=lambda: self.step is Step.IDENTIFY,
                                     submit=self._login, changed=self._emit)
        self.step = Step.CHOOSE
        self.open: tuple[OpenCheckin, ...] = ()
        self.checkin_id: int | None = None
        self.session: Session | None = None
        self.detail: CheckinDetail | None = None
        self.refusal: Refusal | None = None
        self.editing: str | None = None
        self.case = case_entry()
        self.consent_given: bool | None = None
        self._gen = 0  # results for an abandoned check-in are ignored
        self._next_poll = 0.0
        self._inflight = False
        self._saving = False  # a tag is being saved: a list refresh landing meanwhile changes no step
        self.state = self._build()

    # --- lifecycle ---------------------------------------------------------------------------
    def set_translator(self, t: Translator) -> None:
        self.t = t
        self._emit()

    def set_open(self, checkins: tuple[OpenCheckin, ...]) -> None:
        """The open check-ins from the latest snapshot."""
        if checkins == self.open:
            return
        self.open = checkins
        if self.step is Step.CHOOSE:
            self._auto_choose()
        self._emit()

    def start(self, checkin_id: int | None = None) -> None:
        self.end_session()
        self._gen += 1
        self.flow.reset()
        self.detail, self.refusal, self.editing, self.checkin_id = None, None, None, None
        self.step = Step.CHOOSE
        if checkin_id is not None:
            self.choose(checkin_id)
        else:
            self._auto_choose()
        self._emit()

    def end_session(self) -> None:
        if self.session is not None:
            self.service.logout(self.session.token)
            self.session = None

    def _auto_choose(self) -> None:
        # Who you are comes first: the dock then opens the check-in of the camera handed out to
        # you, so nobody scrolls through other officers' cameras to find their own.
        if len(self.open) == 1:
            self.choose(self.open[0].id)
        elif self.open:
            self.checkin_id, self.step = None, Step.IDENTIFY

    def choose(self, checkin_id: int) -> None:
        self.checkin_id = checkin_id
        self.step = Step.IDENTIFY
        self._emit()

    # --- identify (the keys: self.keypad) --------------------------------------------------------
    def _login(self, cred: Credentials) -> None:
        self.step = Step.LOADING
        gen = self._gen
        self.service.login(cred, "checkin", lambda r: self._on_login(gen, r), checkin_id=self.checkin_id)

    def _on_login(self, gen: int, result: Session | Refusal) -> None:
        if gen != self._gen:
            if isinstance(result, Session):
                self.service.logout(result.token)
            return
        if isinstance(result, Refusal):
            self._refuse(result)
            return
        self.session = result
        if self.checkin_id is None:
            self.checkin_id = result.checkin_id
        if self.checkin_id is None:
            self._refuse(Refusal("not_your_camera"))
            return
        self._load()

    def notice(self, n: DomainNotice) -> bool:
        """A badge was read while this screen asked to identify."""
        if self.step is not Step.IDENTIFY or n.purpose != "checkin":
            return False
        if n.type == "session" and n.session is not None and n.checkin_id is not None \
                and self.checkin_id in (None, n.checkin_id):
            self.session, self.checkin_id = n.session, n.checkin_id
            self.step = Step.LOADING
            self._load()
            return True
        if n.type == "session_refused":
            self._refuse(Refusal(n.code or "failed", until=n.until))
            return True
        return False

    # --- the list ----------------------------------------------------------------------------
    def _load(self) -> None:
        assert self.session is not None and self.checkin_id is not None
        gen = self._gen
        self._inflight = True
        self.service.checkin(self.checkin_id, self.session.token, lambda r: self._on_detail(gen, r))
        self._emit()

    def _on_detail(self, gen: int, result: CheckinDetail | Refusal) -> None:
        if gen != self._gen:
            return
        self._inflight = False
        if isinstance(result, Refusal):
            self._refuse(result)
            return
        self.detail = result
        if self.step is Step.LOADING and not self._saving:
            self.step = Step.LIST
        if self.step in (Step.WAIT, Step.DONE):
            self.step = Step.DONE if result.safe_to_leave else Step.WAIT
        self._emit()

    def edit(self, recording_id: str) -> None:
        if self.step is Step.LIST and self.detail is not None and self.detail.editable:
            self.editing = recording_id
            self.step = Step.TAG
            self._emit()

    def pick_tag(self, tag: str) -> None:
        if self.step is not Step.TAG:
            return
        rec = self._editing_recording()
        if tag == "evidence":
            self.case = case_entry()
            if rec is not None and rec.case_number:
                self.case = Entry(rec.case_number, self.case.max_len, False, self.case.allowed)
            self.step = Step.CASE
        elif tag == "learning":
            self.step = Step.CONSENT
        else:
            self._save(TagChoice("uncategorised"))
        self._emit()

    def consent(self, given: bool) -> None:
        if self.step is not Step.CONSENT:
            return
        self.consent_given = given
        if given:
            self.step = Step.CONSENT_HOW
        else:
            self._save(TagChoice("learning", consent_given=False, consent_method="not_asked"))
        self._emit()

    def consent_how(self, method: str) -> None:
        if self.step is Step.CONSENT_HOW and method in dict(CONSENT_METHODS):
            self._save(TagChoice("learning", consent_given=True, consent_method=method))
            self._emit()

    def back(self) -> None:
        """One step back inside tagging (the screen's back button)."""
        if self.step in (Step.TAG,):
            self.step, self.editing = Step.LIST, None
        elif self.step in (Step.CASE, Step.CONSENT):
            self.step = Step.TAG
        elif self.step is Step.CONSENT_HOW:
            self.step = Step.CONSENT
        self._emit()

    def type_case(self, key: str) -> None:
        """A key of the case-number keyboard."""
        if self.step is Step.CASE:
            self.case = self.case.press(key)
            self._emit()

    def case_backspace(self) -> None:
        if self.step is Step.CASE:
            self.case = self.case.backspace()
            self._emit()

    def save_case(self) -> None:
        """Evidence with the typed case number, once it is long enough."""
        if self.step is Step.CASE and self._case_ok():
            self._save(TagChoice("evidence", case_number=self.case.text))
            self._emit()

    def _case_ok(self) -> bool:
        return len(self.case.text.strip(" -/.")) >= 2

    def _save(self, choice: TagChoice) -> None:
        assert self.session is not None and self.checkin_id is not None and self.editing is not None
        gen, rec = self._gen, self.editing
        self.step, self.editing, self._saving = Step.LOADING, None, True
        self.service.tag(self.checkin_id, self.session.token, rec, choice, lambda r: self._on_saved(gen, r))

    def _on_saved(self, gen: int, result: CheckinDetail | Refusal) -> None:
        if gen != self._gen:
            return
        self._saving = False
        if isinstance(result, Refusal):
            self._refuse(result)
            return
        self.detail, self.step = result, Step.LIST
        self._emit()

    def finish(self) -> None:
        """Done tagging: the tags are final for the wearer; wait until the copies are safe."""
        if self.step is not Step.LIST or self.session is None or self.checkin_id is None:
            return
        gen = self._gen
        self.step = Step.WAIT
        self._inflight = True
        self.service.finish_checkin(self.checkin_id, self.session.token, lambda r: self._on_detail(gen, r))
        self._emit()

    def tick(self, now: float) -> None:
        """Called by the kiosk's clock (monotonic seconds): refresh the list (recordings found, copy
        state) and, after finishing, wait for safe copies."""
        if self.step not in (Step.LIST, Step.WAIT) or self._inflight or self.session is None \
                or self.checkin_id is None:
            return
        if now < self._next_poll:
            return
        self._next_poll = now + POLL_S
        self._load()

    def _refuse(self, r: Refusal) -> None:
        self.step, self.refusal = Step.REFUSED, r
        self._emit()

    def retry(self) -> None:
        """After a refusal: back to identifying for the same camera (or choosing one)."""
        chosen = self.checkin_id
        self.start(chosen if chosen is not None and any(c.id == chosen for c in self.open) else None)

    # --- state -------------------------------------------------------------------------------
    def _editing_recording(self) -> Recording | None:
        if self.detail is None or self.editing is None:
            return None
        return next((r for r in self.detail.recordings if r.id == self.editing), None)

    def _emit(self) -> None:
        self.state = self._build()
        self._changed()

    def _rows(self, fmt: Formatter) -> tuple[RecordingRow, ...]:
        t = self.t
        if self.detail is None:
            return ()
        now = self._now()
        out = []
        for i, r in enumerate(self.detail.recordings, 1):
            words, icon = tag_words(t, r)
            copied = (t("Copied safely"), Icon.CHECK) if r.safe else (t("Being copied"), Icon.ARROW)
            when, length, size = fmt.day_clock(r.started_at, now), fmt.duration(r.duration_s), fmt.size(r.size_bytes)
            summary = t("Started {time} · length {duration} · {size}").format(time=when, duration=length, size=size)
            out.append(RecordingRow(r.id, i, when, length, size, summary, words, icon, copied[0], copied[1]))
        return tuple(out)

    def _build(self) -> CheckinState:
        t = self.t
        fmt = Formatter(t, self.timezone)
        title = t("Return a camera")
        step = self.step
        if step is Step.CHOOSE:
            if not self.open:
                return CheckinState(step, title, t("Put your camera in a free slot. The dock recognises it by "
                                                  "itself."), icon=Icon.CAMERA)
            choices = tuple(Choice(c.id, t("Camera {serial} in slot {slot}").format(serial=c.camera_serial,
                                                                                     slot=c.slot_label))
                            for c in sorted(self.open, key=lambda c: c.slot_id))
            return CheckinState(step, title, t("Which camera did you bring back?"), choices=choices)
        if step is Step.IDENTIFY:
            chosen = next((c for c in self.open if c.id == self.checkin_id), None)
            where = t("Camera in slot {slot}").format(slot=chosen.slot_label) if chosen else \
                t("First: who are you?")
            return CheckinState(step, title, where, identify=self.flow.state(t))
        if step is Step.LOADING:
            return CheckinState(step, title, t("One moment…"), rows=self._rows(fmt), icon=Icon.DOTS,
                                tone=Tone.BUSY)
        if step is Step.REFUSED:
            r = self.refusal or Refusal("failed")
            return CheckinState(step, title, refusal_text(t, r, fmt, self._now()), icon=Icon.CROSS, tone=Tone.FAULT)
        rows = self._rows(fmt)
        d = self.detail
        progress = d.progress.fraction if d is not None else None
        if step is Step.LIST:
            n = len(rows)
            if not n and d is not None and d.listing:
                return CheckinState(step, title, t("Looking for recordings on the camera…"), icon=Icon.DOTS,
                                    tone=Tone.BUSY)
            msg = t.n("{n} recording on this camera. Tap a recording to label it.",
                      "{n} recordings on this camera. Tap a recording to label it.", n).format(n=n) if n else \
                t("There are no recordings on this camera.")
            return CheckinState(step, title, msg, rows=rows, progress=progress)
        editing = next((r for r in rows if r.recording_id == self.editing), None)
        if step is Step.TAG:
            return CheckinState(step, t("Label recording {n}").format(n=editing.number if editing else "?"),
                                t("What is this recording?"), rows=rows, editing=editing)
        if step is Step.CASE:
            return CheckinState(step, t("Evidence"), t("Type the case number"), rows=rows, editing=editing,
                                case_number=self.case.text, can_next=self._case_ok())
        if step is Step.CONSENT:
            return CheckinState(step, t("Learning"), t("Did the filmed person consent to use for learning?"),
                                rows=rows, editing=editing)
        if step is Step.CONSENT_HOW:
            return CheckinState(step, t("Learning"), t("How was consent given?"), rows=rows, editing=editing)
        if step is Step.WAIT:
            done = sum(1 for r in d.recordings if r.safe) if d else 0
            total = len(d.recordings) if d else 0
            msg = t("Recordings are being copied safely: {done} of {total}. Please wait.").format(
                done=done, total=total)
            return CheckinState(step, title, msg, rows=rows, progress=progress, icon=Icon.ARROW, tone=Tone.BUSY)
        return CheckinState(Step.DONE, title, t("All recordings are copied safely. You can go."), rows=rows,
                            progress=1.0, icon=Icon.CHECK, tone=Tone.OK)
