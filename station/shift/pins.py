"""PINs: only ever held as scrypt hashes, compared in constant time, never logged.

A four-to-twelve digit PIN has little entropy, so the hash must be slow: scrypt with ``2**15``
iterations costs ~32 MiB and tens of milliseconds per guess. The cost parameters travel in the
hash text (``scrypt$ln=15,r=8,p=1$<salt>$<hash>``), so they can be raised later without
invalidating existing rosters; the roster refuses hashes weaker than :data:`MIN_LOG2_N`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

SCHEME = "scrypt"
DEFAULT_LOG2_N = 15
MIN_LOG2_N = 14
_R, _P = 8, 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_PIN_RE = re.compile(r"[0-9]{4,12}")
_PARAMS_RE = re.compile(r"ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})")


class PinHashError(ValueError):
    """A stored PIN hash is malformed or too weak."""


@dataclass(frozen=True)
class _Parsed:
    log2_n: int
    r: int
    p: int
    salt: bytes
    key: bytes


def check_pin_format(pin: str) -> None:
    """PINs are 4 to 12 digits; ValueError otherwise (the message never contains the PIN)."""
    if not _PIN_RE.fullmatch(pin):
        raise ValueError("a PIN is 4 to 12 digits")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _derive(pin: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    # hashlib's default maxmem (32 MiB) is just below what n=2**15, r=8 needs.
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES,
                          maxmem=256 * r * n + (1 << 20))


def hash_pin(pin: str, *, log2_n: int = DEFAULT_LOG2_N) -> str:
    check_pin_format(pin)
    if log2_n < MIN_LOG2_N:
        raise ValueError(f"scrypt cost must be at least 2**{MIN_LOG2_N}")
    salt = os.urandom(_SALT_BYTES)
    key = _derive(pin, salt, log2_n, _R, _P)
    return f"{SCHEME}$ln={log2_n},r={_R},p={_P}${_b64(salt)}${_b64(key)}"


def _parse(encoded: str) -> _Parsed:
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        raise PinHashError(f"not a {SCHEME} PIN hash")
    m = _PARAMS_RE.fullmatch(parts[1])
    if m is None:
        raise PinHashError("PIN hash parameters are malformed")
    log2_n, r, p = (int(g) for g in m.groups())
    if log2_n < MIN_LOG2_N or log2_n > 22 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise PinHashError(f"PIN hash is too weak or out of range (needs ln>={MIN_LOG2_N})")
    try:
        salt, key = _unb64(parts[2]), _unb64(parts[3])
    except (binascii.Error, ValueError):
        raise PinHashError("PIN hash salt or key is not base64") from None
    if len(salt) < 8 or len(key) != _KEY_BYTES:
        raise PinHashError("PIN hash salt or key has the wrong length")
    return _Parsed(log2_n, r, p, salt, key)


def check_pin_hash(encoded: str) -> None:
    """Raise PinHashError unless ``encoded`` is a well-formed, strong enough PIN hash."""
    _parse(encoded)


def verify_pin(pin: str, encoded: str) -> bool:
    parsed = _parse(encoded)
    candidate = _derive(pin, parsed.salt, parsed.log2_n, parsed.r, parsed.p)
    return hmac.compare_digest(candidate, parsed.key)


# A fixed hash to spend the same time on when the personnel number is unknown, so response
# times do not tell which numbers exist.
_DUMMY = f"{SCHEME}$ln={DEFAULT_LOG2_N},r={_R},p={_P}${_b64(bytes(_SALT_BYTES))}${_b64(bytes(_KEY_BYTES))}"


def burn_time(pin: str) -> None:
    verify_pin(pin, _DUMMY)
