"""Named crash points for fault-injection tests.

Set ``BODYDOCK_CRASH_AT=name`` (or ``name@N`` for the N-th time the point is reached; several
separated by commas) and the process SIGKILLs itself there: a real, unclean death at a precise
step, which is what the journal must survive. Unset in production, where a point is one dict lookup.
"""

from __future__ import annotations

import os
import signal
import threading

_lock = threading.Lock()
_hits: dict[str, int] = {}


def _targets() -> dict[str, int]:
    spec = os.environ.get("BODYDOCK_CRASH_AT", "")
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, nth = part.partition("@")
        out[name] = int(nth) if nth else 1
    return out


_TARGETS = _targets()


def crash_point(name: str) -> None:
    if not _TARGETS or name not in _TARGETS:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] == _TARGETS[name]:
            os.kill(os.getpid(), signal.SIGKILL)
