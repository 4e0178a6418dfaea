"""PIN hashes: scrypt, parameters in the hash, constant-time check, weak or malformed refused."""

from __future__ import annotations

import pytest

from station.shift.pins import (
    MIN_LOG2_N,
    PinHashError,
    burn_time,
    check_pin_format,
    check_pin_hash,
    hash_pin,
    verify_pin,
)


def test_hash_and_verify() -> None:
    h = hash_pin("4711", log2_n=MIN_LOG2_N)
    assert h.startswith(f"scrypt$ln={MIN_LOG2_N},r=8,p=1$") and "4711" not in h
    assert verify_pin("4711", h) and not verify_pin("4712", h) and not verify_pin("", h)
    assert hash_pin("4711", log2_n=MIN_LOG2_N) != h  # salted


def test_default_cost_is_slow_kdf() -> None:
    assert hash_pin("123456").startswith("scrypt$ln=15,")


@pytest.mark.parametrize("pin", ["123", "12a4", "", "1234567890123", " 1234"])
def test_pin_format(pin: str) -> None:
    with pytest.raises(ValueError):
        check_pin_format(pin)
    with pytest.raises(ValueError):
        hash_pin(pin)


@pytest.mark.parametrize("bad", [
    "plain1234", "scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,  # too weak
    "scrypt$ln=15,r=8,p=1$!!$" + "A" * 43, "scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
    "bcrypt$ln=15,r=8,p=1$a$b", "scrypt$n=15$a$b",
])
def test_malformed_or_weak_hashes_are_refused(bad: str) -> None:
    with pytest.raises(PinHashError) as info:
        check_pin_hash(bad)
    assert bad not in str(info.value)


def test_burn_time_runs() -> None:
    burn_time("1234")  # same work as a real check, result ignored
