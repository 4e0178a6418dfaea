"""A transfer package as a zip, written while it is sent (stored, not compressed: footage does
not compress), so no second copy of the package is made on the vault host."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

PIECE = 1 << 20


class _Pipe:
    """An unseekable file for ZipFile: it then writes data descriptors instead of seeking back."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def zip_folder(root: Path) -> Iterator[bytes]:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            arc = f"{root.name}/{path.relative_to(root).as_posix()}"
            with path.open("rb") as src, zf.open(zipfile.ZipInfo.from_file(path, arc), "w", force_zip64=True) as dst:
                while buf := src.read(PIECE):
                    dst.write(buf)
                    yield pipe.drain()
            yield pipe.drain()
    yield pipe.drain()
