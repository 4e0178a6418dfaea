"""Named crash and hang points for fault-injection tests.

Set ``BODYDOCK_CRASH_AT=name`` (or ``name@N`` for the N-th time the point is reached; several
separated by commas) and the process SIGKILLs itself there: a real, unclean death at a precise
step, which is what the journal must survive. ``BODYDOCK_HANG_AT`` takes the same form and
blocks the thread that reaches the point forever: a hung (not dead) component, which is what the
systemd watchdog must catch. Unset in production, where a point is one dict lookup.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger(__name__)
_lock = threading.Lock()
_hits: dict[str, int] = {}


def _targets(variable: str = "BODYDOCK_CRASH_AT") -> dict[str, int]:
    spec = os.environ.get(variable, "")
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, nth = part.partition("@")
        out[name] = int(nth) if nth else 1
    return out


_TARGETS = _targets()
_HANGS = _targets("BODYDOCK_HANG_AT")
_COMPANIONS: list[int] = []


def die_with(pid: int) -> None:
    """A crash point reached in this process also kills ``pid``: a helper process of the daemon
    (station/outbox/transfer_child.py) takes the whole dock down with it, as one process would."""
    _COMPANIONS.append(pid)


def _reached(name: str, targets: dict[str, int]) -> bool:
    with _lock:
        key = f"{id(targets)}:{name}"
        _hits[key] = _hits.get(key, 0) + 1
        return _hits[key] == targets[name]


def crash_point(name: str) -> None:
    if not _TARGETS or name not in _TARGETS:
        return
    if _reached(name, _TARGETS):
        for pid in _COMPANIONS:
            os.kill(pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def hang_point(name: str) -> None:
    if not _HANGS or name not in _HANGS:
        return
    if _reached(name, _HANGS):
        log.warning("hang point %s reached: this thread now blocks forever (BODYDOCK_HANG_AT)", name)
        threading.Event().wait()
