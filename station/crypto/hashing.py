"""Streaming SHA-256 of files and of what the vault's own `age` decrypts them to."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import IO

CHUNK = 1 << 20


def sha256_stream(stream: IO[bytes]) -> str:
    h = hashlib.sha256()
    while buf := stream.read(CHUNK):
        h.update(buf)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return sha256_stream(fh)


def age_plaintext_sha256(path: Path, identity: Path) -> str:
    """Decrypt with the stock age CLI, as the municipality would, and hash the plaintext.

    Only the vault side (demo, tests, `bodydock verify --identity`) has an identity; a dock never does.
    """
    with subprocess.Popen(["age", "-d", "-i", str(identity), str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        digest = sha256_stream(proc.stdout)
        err = proc.stderr.read()
    if proc.returncode != 0:
        raise OSError(f"age could not decrypt {path}: {err.decode(errors='replace').strip()}")
    return digest
