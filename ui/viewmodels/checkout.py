"""Check-out: identify (badge at the reader, or number + PIN on the pad), the station picks and
prepares a camera, then "Take the camera from slot 5"."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ui.client.model import CheckoutDone, DomainNotice, Refusal
from ui.client.service import Credentials, KioskService
from ui.i18n import Translator
from ui.viewmodels.base import ViewModel
from ui.viewmodels.fmt import Formatter
from ui.viewmodels.identify import IdentifyFlow, IdentifyKeypad, IdentifyState
from ui.viewmodels.look import Icon, Tone
from ui.viewmodels.refusals import refusal_text
from ui.viewmodels.timeutil import utcnow


class Step(enum.StrEnum):
    IDENTIFY = "identify"
    WORKING = "working"
    DONE = "done"
    REFUSED = "refused"


@dataclass(frozen=True)
class CheckoutState:
    step: Step
    title: str
    identify: IdentifyState | None  # the keypad, while identifying
    message: str  # what happens / what to do
    slot_label: str | None  # the big slot number when done
    icon: Icon
    tone: Tone


class CheckoutViewModel(ViewModel):
    def __init__(self, service: KioskService, t: Translator, *, timezone: str = "Europe/Amsterdam",
                 now: Callable[[], datetime] = utcnow) -> None:
        super().__init__()
        self.service, self.t, self.timezone, self._now = service, t, timezone, now
        self.flow = IdentifyFlow()
        self.keypad = IdentifyKeypad(flow=self.flow, active=lambda: self.step is Step.IDENTIFY,
                                     submit=self._submit, changed=self._emit)
        self.step = Step.IDENTIFY
        self._done: CheckoutDone | None = None
        self._refusal: Refusal | None = None
        self._attempt = 0  # results of an abandoned attempt are ignored
        self.state = self._build()

    # --- intents -----------------------------------------------------------------------------
    def start(self) -> None:
        self.flow.reset()
        self.step, self._done, self._refusal = Step.IDENTIFY, None, None
        self._attempt += 1
        self._emit()

    def set_translator(self, t: Translator) -> None:
        self.t = t
        self._emit()

    def _submit(self, cred: Credentials) -> None:
        self.step = Step.WORKING
        self._attempt += 1
        attempt = self._attempt
        self.service.checkout(cred, lambda r: self._on_result(attempt, r))

    # --- results -----------------------------------------------------------------------------
    def _on_result(self, attempt: int, result: CheckoutDone | Refusal) -> None:
        if attempt != self._attempt:
            return
        if isinstance(result, Refusal):
            self.step, self._refusal = Step.REFUSED, result
        else:
            self.step, self._done = Step.DONE, result
        self._emit()

    def notice(self, n: DomainNotice) -> bool:
        """A badge check-out the daemon ran: show its outcome. True if it concerned this screen."""
        if n.type == "checkout_started":
            self._attempt += 1
            self.step = Step.WORKING
        elif n.type == "checkout_done" and n.slot_id is not None:
            self._attempt += 1
            self.step = Step.DONE
            self._done = CheckoutDone(n.slot_id, n.slot_label or str(n.slot_id), n.camera_serial or "", False)
        elif n.type == "checkout_refused":
            self._attempt += 1
            self.step, self._refusal = Step.REFUSED, Refusal(n.code or "failed", until=n.until)
        else:
            return False
        self.flow.reset()
        self._emit()
        return True

    # --- state -------------------------------------------------------------------------------
    def _emit(self) -> None:
        self.state = self._build()
        self._changed()

    def _build(self) -> CheckoutState:
        t = self.t
        title = t("Take a camera")
        if self.step is Step.IDENTIFY:
            return CheckoutState(self.step, title, self.flow.state(t), "", None, Icon.CAMERA, Tone.IDLE)
        if self.step is Step.WORKING:
            return CheckoutState(self.step, title, None, t("Your camera is being prepared…"), None, Icon.DOTS,
                                 Tone.BUSY)
        if self.step is Step.DONE and self._done is not None:
            msg = t("Take the camera from slot {slot}").format(slot=self._done.slot_label)
            return CheckoutState(self.step, title, None, msg, self._done.slot_label, Icon.CHECK, Tone.OK)
        r = self._refusal or Refusal("failed")
        fmt = Formatter(t, self.timezone)
        return CheckoutState(Step.REFUSED, title, None, refusal_text(t, r, fmt, self._now()), None, Icon.CROSS,
                             Tone.FAULT)
