"""Bech32 (BIP-173) encoding, as used by age for X25519 recipients and identities.

This is plain bech32, not bech32m (BIP-350): age uses the original checksum constant. age also
ignores BIP-173's 90-character limit (its identities are longer), so the limit is a parameter.

The functions work on two levels: *words* (5-bit values, what the checksum covers) and bytes
(what callers normally want; converted with :func:`convertbits`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_LEN = 6
BIP173_MAX_LENGTH = 90


class Bech32Error(ValueError):
    """A string is not valid bech32; the message says why."""


def polymod(values: Iterable[int]) -> int:
    """The BCH checksum polynomial over GF(32) from BIP-173."""
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def hrp_expand(hrp: str) -> list[int]:
    """Spread the human-readable part over 5-bit values so the checksum covers it."""
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _create_checksum(hrp: str, words: Sequence[int]) -> list[int]:
    pm = polymod([*hrp_expand(hrp), *words, *([0] * _CHECKSUM_LEN)]) ^ 1
    return [(pm >> 5 * (5 - i)) & 31 for i in range(_CHECKSUM_LEN)]


def _verify_checksum(hrp: str, words: Sequence[int]) -> bool:
    return polymod([*hrp_expand(hrp), *words]) == 1


def convertbits(data: Iterable[int], frombits: int, tobits: int, *, pad: bool) -> list[int]:
    """Regroup a sequence of ``frombits``-bit values into ``tobits``-bit values.

    With ``pad=False`` (decoding) leftover bits must be fewer than ``frombits`` and all zero;
    anything else means the encoder was not canonical, which BIP-173 treats as invalid.
    """
    acc = 0
    bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    max_acc = (1 << (frombits + tobits - 1)) - 1
    for value in data:
        if value < 0 or value >> frombits:
            raise Bech32Error(f"value {value} does not fit in {frombits} bits")
        acc = ((acc << frombits) | value) & max_acc
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits:
        raise Bech32Error("too many padding bits")
    elif (acc << (tobits - bits)) & maxv:
        raise Bech32Error("non-zero padding bits")
    return out


def encode_words(hrp: str, words: Sequence[int]) -> str:
    """Encode 5-bit ``words`` under ``hrp``; the result is lowercase."""
    hrp = hrp.lower()
    _check_hrp(hrp)
    if any(w < 0 or w > 31 for w in words):
        raise Bech32Error("data words must be 5-bit values")
    return hrp + "1" + "".join(CHARSET[w] for w in [*words, *_create_checksum(hrp, words)])


def decode_words(text: str, *, max_length: int | None = BIP173_MAX_LENGTH) -> tuple[str, list[int]]:
    """Decode a bech32 string to (lowercase hrp, 5-bit data words without the checksum).

    Raises :class:`Bech32Error` with the reason. ``max_length=None`` disables the 90-character
    limit (age needs that for identities).
    """
    if max_length is not None and len(text) > max_length:
        raise Bech32Error(f"longer than {max_length} characters")
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise Bech32Error("character outside the printable US-ASCII range")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed case")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 0:
        raise Bech32Error("no separator '1'")
    if pos == 0:
        raise Bech32Error("empty human-readable part")
    if len(text) - pos - 1 < _CHECKSUM_LEN:
        raise Bech32Error("checksum too short")
    hrp = text[:pos]
    try:
        words = [_CHARSET_REV[c] for c in text[pos + 1 :]]
    except KeyError as exc:
        raise Bech32Error(f"invalid data character {exc.args[0]!r}") from None
    if not _verify_checksum(hrp, words):
        raise Bech32Error("bad checksum")
    return hrp, words[:-_CHECKSUM_LEN]


def encode(hrp: str, data: bytes) -> str:
    """Encode bytes under ``hrp``; the result is lowercase (uppercase it yourself if wanted)."""
    return encode_words(hrp, convertbits(data, 8, 5, pad=True))


def decode(text: str, *, max_length: int | None = BIP173_MAX_LENGTH) -> tuple[str, bytes]:
    """Decode a bech32 string to (lowercase hrp, bytes)."""
    hrp, words = decode_words(text, max_length=max_length)
    return hrp, bytes(convertbits(words, 5, 8, pad=False))


def _check_hrp(hrp: str) -> None:
    if not hrp:
        raise Bech32Error("empty human-readable part")
    if any(ord(c) < 33 or ord(c) > 126 for c in hrp):
        raise Bech32Error("human-readable part has a character outside US-ASCII 33..126")
