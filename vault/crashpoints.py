"""Named crash points for the vault's fault-injection tests.

``BODYDOCK_VAULT_CRASH_AT=name`` (or ``name@N``: the N-th time; several separated by commas)
makes the process SIGKILL itself there: a real, unclean death at a precise step, which the
catalog's journaled steps must survive. Unset in production, where a point is a dict lookup.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def _targets() -> dict[str, int]:
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in os.environ.get("BODYDOCK_VAULT_CRASH_AT", "").split(","))):
        name, _, nth = part.partition("@")
        out[name] = int(nth) if nth else 1
    return out


_TARGETS = _targets()


def crash_point(name: str) -> None:
    if not _TARGETS or name not in _TARGETS:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == _TARGETS[name]:
        os.kill(os.getpid(), signal.SIGKILL)
