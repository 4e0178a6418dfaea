"""The camera's command protocol, independent of USB (see PROTOCOL.md).

One command per bulk-OUT transfer, ``CMD [ARGS]\\r\\n`` in printable ASCII; the answer is zero or
more ``KEY=VALUE\\r\\n`` lines on bulk IN, in packets of any size, ending with ``OK\\r\\n`` or
``ERR <code> <text>\\r\\n``.
"""

from __future__ import annotations

import abc
import re
import time

from device_adapters.api import AdapterError

MAX_COMMAND = 250
MAX_ANSWER = 64 * 1024
_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


class ProtocolError(AdapterError):
    """The camera answered ERR, or something that is not the protocol."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class NoAnswer(AdapterError):
    """The camera did not answer within the command timeout."""


class Link(abc.ABC):
    """A byte pipe to the camera: one write per command, reads of whatever packets arrive."""

    @abc.abstractmethod
    def write(self, data: bytes, timeout_ms: int) -> None: ...

    @abc.abstractmethod
    def read(self, size: int, timeout_ms: int) -> bytes:
        """One transfer of at most ``size`` bytes; NoAnswer if nothing came in time."""

    @abc.abstractmethod
    def close(self) -> None: ...


def check_text(value: str, what: str, *, max_len: int = 64) -> str:
    if not value.isascii() or not value.isprintable() or len(value) > max_len:
        raise AdapterError(f"{what} must be printable ASCII of at most {max_len} characters: {value!r}")
    return value


class Session:
    def __init__(self, link: Link, *, timeout_ms: int = 2000) -> None:
        self.link = link
        self.timeout_ms = timeout_ms

    def command(self, line: str) -> dict[str, str]:
        check_text(line, "command", max_len=MAX_COMMAND)
        self.link.write(line.encode("ascii") + b"\r\n", self.timeout_ms)
        deadline = time.monotonic() + self.timeout_ms / 1000
        buf = b""
        values: dict[str, str] = {}
        while True:
            while b"\r\n" not in buf:
                left = int((deadline - time.monotonic()) * 1000)
                if left <= 0:
                    raise NoAnswer(f"camera did not finish answering {line.split(' ', 1)[0]}")
                buf += self.link.read(512, left)
                if len(buf) > MAX_ANSWER:
                    raise ProtocolError(f"answer to {line.split(' ', 1)[0]} is larger than {MAX_ANSWER} bytes")
            raw, buf = buf.split(b"\r\n", 1)
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError as exc:
                raise ProtocolError(f"camera sent non-ASCII bytes: {raw[:40]!r}") from exc
            if text == "OK":
                if buf:
                    raise ProtocolError(f"camera sent data after OK: {buf[:40]!r}")
                return values
            if text.startswith("ERR "):
                code, _, message = text[4:].partition(" ")
                raise ProtocolError(f"camera refused {line.split(' ', 1)[0]}: {message or code}",
                                    int(code) if code.isdigit() else None)
            key, sep, value = text.partition("=")
            if not sep or not _KEY.match(key):
                raise ProtocolError(f"camera sent a line that is not KEY=VALUE: {text[:60]!r}")
            values[key] = value
