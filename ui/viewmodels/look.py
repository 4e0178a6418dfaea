"""The visual vocabulary view-models speak: an icon shape and a tone for every state. Tone picks
a colour, but a state is never told by colour alone: every tone comes with a word and a shape."""

from __future__ import annotations

import enum


class Icon(enum.StrEnum):
    CHECK = "check"  # ready, safe
    ARROW = "arrow"  # copying
    BOLT = "bolt"  # charging
    DOTS = "dots"  # working
    EMPTY = "empty"  # no camera
    PERSON = "person"  # assigned / with a wearer
    WARNING = "warning"  # fault, alert
    LOCK = "lock"  # staff only
    CROSS = "cross"  # refused
    CAMERA = "camera"
    BATTERY = "battery"


class Tone(enum.StrEnum):
    OK = "ok"
    BUSY = "busy"
    WARN = "warn"
    FAULT = "fault"
    IDLE = "idle"
