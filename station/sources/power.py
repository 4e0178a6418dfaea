"""Power-cycling a hung camera's port with uhubctl, for slots that say which hub port they are.

A camera whose firmware wedged (no answer, a USB transfer that never completes) usually comes
back after losing power. The cycle runs in the background and at most once per slot per
``min_interval_s``, so a camera that hangs again is not kept in a power loop; its slot stays
faulted for staff either way, and the re-enumeration shows up as a departure and a new arrival.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=False)


class PortPower:
    def __init__(
        self,
        ports: Mapping[int, tuple[str, int]],
        *,
        command: str = "uhubctl",
        off_s: int = 2,
        min_interval_s: float = 300.0,
        runner: Runner = _run,
    ) -> None:
        self.ports = dict(ports)
        self.command = command
        self.off_s = off_s
        self.min_interval_s = min_interval_s
        self._runner = runner
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()
        # Told about every attempt (slot, what happened); the station audits it.
        self.report: Callable[[int, str], None] = lambda slot, text: None

    def command_for(self, slot_id: int) -> list[str] | None:
        where = self.ports.get(slot_id)
        if where is None:
            return None
        hub, port = where
        return [self.command, "-l", hub, "-p", str(port), "-a", "cycle", "-d", str(self.off_s)]

    def cycle(self, slot_id: int, why: str) -> bool:
        """Start a power cycle of the slot's port; False if not configured or done too recently."""
        cmd = self.command_for(slot_id)
        if cmd is None:
            return False
        with self._lock:
            now = time.monotonic()
            last = self._last.get(slot_id)
            if last is not None and now - last < self.min_interval_s:
                log.warning("slot %s hung again (%s); not power-cycling again so soon", slot_id, why)
                return False
            self._last[slot_id] = now
        threading.Thread(target=self._do, args=(slot_id, cmd, why), name=f"uhubctl-{slot_id}", daemon=True).start()
        return True

    def _do(self, slot_id: int, cmd: list[str], why: str) -> None:
        try:
            r = self._runner(cmd)
            ok = r.returncode == 0
            detail = (r.stderr or r.stdout).strip()[-200:]
            text = f"power-cycled ({why})" if ok else f"power cycle failed ({why}): {detail}"
        except (OSError, subprocess.SubprocessError) as exc:
            ok, text = False, f"power cycle failed ({why}): {exc}"
        (log.info if ok else log.error)("slot %s: %s: %s", slot_id, " ".join(cmd), text)
        try:
            self.report(slot_id, text)
        except Exception:
            log.exception("slot %s: reporting the power cycle failed", slot_id)
