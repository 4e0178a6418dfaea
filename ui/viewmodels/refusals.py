"""Why the station said no, in the officer's language. Codes come from the local API; the
English detail it sends along is for logs and staff, never needed to understand the screen."""

from __future__ import annotations

from datetime import datetime

from ui.client.model import Refusal
from ui.i18n import N_, Translator
from ui.viewmodels.fmt import Formatter

_TEXT: dict[str, str] = {
    "bad_credentials": N_("Personnel number or PIN is not correct."),
    "unknown_badge": N_("This badge is not known at this dock. Use your personnel number and PIN."),
    "locked_out": N_("Too many wrong PINs. Try again after {time}."),
    "no_camera": N_("No camera can be handed out right now. Please ask staff."),
    "no_personal_camera": N_("Your own camera is not ready in the dock. Please ask staff."),
    "clock_unsynchronised": N_("The dock clock is not synchronised, so no camera can be handed out. "
                               "Please tell staff."),
    "not_allowed": N_("You may not do this here. Please ask staff."),
    "not_your_camera": N_("This camera was not handed out to you. Please ask staff."),
    "busy": N_("The dock is busy. Try again in a moment."),
    "camera_unavailable": N_("The camera became unavailable. Try again."),
    "expired": N_("Your session has ended. Please identify again."),
    "not_found": N_("This check-in is no longer open."),
    "invalid_tag": N_("This label is not complete."),
    "closed": N_("Labels can no longer be changed here. Please ask staff."),
    "already_out": N_("A camera is still checked out to you. Return it first."),
    "unreachable": N_("The dock does not answer. Try again in a moment."),
    "roster_unavailable": N_("The roster could not be loaded."),
}


def refusal_text(t: Translator, r: Refusal, fmt: Formatter, now: datetime) -> str:
    text = t(_TEXT.get(r.code, N_("That did not work. Try again or ask staff.")))
    if r.code == "locked_out":
        text = text.format(time=fmt.day_clock(r.until, now) if r.until else "…")
    return text
