"""The C2SP/CCTV age test vectors, read from the npm package ``cctv-age`` that ``make
cctv-age-vectors`` fetches (integrity pinned in the Makefile) into .cache/cctv-age."""

from __future__ import annotations

import base64
import re
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

INDEX = ROOT / ".cache" / "cctv-age" / "package" / "index.js"
_VECTOR = re.compile(r'// \.\./testdata/(\S+)\nvar \w+ = __toBinary\("([^"]*)"\)')


@dataclass(frozen=True)
class Vector:
    name: str
    headers: list[tuple[str, str]]
    data: bytes

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.headers if k == key), None)

    @property
    def expect(self) -> str:
        return self.get("expect") or ""

    @property
    def identities(self) -> list[str]:
        return [v for k, v in self.headers if k == "identity"]

    @property
    def applicable(self) -> bool:
        """X25519 only: no passphrase (scrypt), no armor, no hybrid/post-quantum identities."""
        keys = {k for k, _ in self.headers}
        if "passphrase" in keys or self.get("armored") == "yes" or not self.identities:
            return False
        return all(i.startswith("AGE-SECRET-KEY-1") for i in self.identities)


def ensure_index() -> Path:
    if not INDEX.exists():
        subprocess.run(["make", "-s", "cctv-age-vectors"], cwd=ROOT, check=True)
    return INDEX


def load_vectors() -> list[Vector]:
    out = []
    for name, b64 in _VECTOR.findall(ensure_index().read_text()):
        raw = base64.b64decode(b64)
        head, _, body = raw.partition(b"\n\n")
        headers = [tuple(line.split(": ", 1)) for line in head.decode().splitlines()]
        hdrs = [(k, v) for k, v in headers]  # type: ignore[misc]
        if dict(hdrs).get("compressed") == "zlib":
            body = zlib.decompress(body)
        out.append(Vector(name, hdrs, body))
    return out
