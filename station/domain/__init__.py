"""The domain API for check-out, check-in and tagging (plain Python; the kiosk builds on it).

Start with :class:`ShiftService`; events are in :mod:`station.events`.
"""

from station.domain.lockout import LockoutPolicy
from station.domain.selection import NoCamera, Policy
from station.domain.service import (
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
from station.tagging import Consent, ConsentMethod, Tag, TagError, TagRequest

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
