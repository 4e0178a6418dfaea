"""The domain API for check-out, check-in and tagging (plain Python; the kiosk builds on it).

Start with :class:`ShiftService`; events are in :mod:`station.core.events`.
"""

from station.offload.tagging import Consent, ConsentMethod, Tag, TagError, TagRequest
from station.shift.lockout import LockoutPolicy
from station.shift.selection import NoCamera, Policy
from station.shift.service import (
    AuthFailed,
    CheckinView,
    Checkout,
    CheckoutRefusedError,
    Identity,
    LockedOutError,
    NotAllowed,
    NotFound,
    RecordingSummary,
    ShiftError,
    ShiftService,
    ShiftSettings,
)

__all__ = [
    "AuthFailed",
    "CheckinView",
    "Checkout",
    "CheckoutRefusedError",
    "Consent",
    "ConsentMethod",
    "Identity",
    "LockedOutError",
    "LockoutPolicy",
    "NoCamera",
    "NotAllowed",
    "NotFound",
    "Policy",
    "RecordingSummary",
    "ShiftError",
    "ShiftService",
    "ShiftSettings",
    "Tag",
    "TagError",
    "TagRequest",
]
