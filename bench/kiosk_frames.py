"""Kiosk frame times while 8 slots offload.

A simulated dock with 8 cameras, each read at a limited rate (``read_rate_mbps``) so all 8
offloads run for the whole measurement, in this process (station, shift, local API); the real
kiosk in its own process (as on the appliance) on $DISPLAY, or on a private Xvfb when there is
none (software GL: llvmpipe). The kiosk shows the home grid, receiving a snapshot whenever offload
progress moves; halfway, someone walks up and types a check-out by touch (the request goes to the
station on a worker thread while frames keep coming). Frame time is the interval between two
consecutive frames of the kiosk's main loop (Kivy caps it at 60 fps, ~16.7 ms).

Without $DISPLAY the kiosk runs on a private Xvfb with a 16-bit screen by default. There is no GPU
here: Mesa renders in software and, on a 24-bit Xvfb screen, its presentation of every 1280x800
frame alone costs ~20 ms on a 2-core machine whatever the app draws (a one-label Kivy app shows
it), while an appliance's GPU scans out for free. The 16-bit screen takes that harness cost out
of the kiosk's figures; ``--depth 24`` measures with it.

Prints one JSON object with ``p99_frame_ms`` (the worse of the window sizes; target <= 33). Run:
``.venv/bin/python bench/kiosk_frames.py [--seconds 15] [--window 800x480 --window 1280x800]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLOTS = 8


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def measure(d: Any, args: dict[str, str]) -> None:
    """Runs inside the kiosk process (``kiosk_lab.driver``)."""
    from kivy.clock import Clock

    seconds = float(args["seconds"])
    await d.wait(lambda: d.screen == "home" and sum(t == "Kopiëren" for t in d.texts()) >= SLOTS, 60,
                 what="8 slots copying on the home grid")
    from kivy.core.window import Window

    intervals: list[float] = []
    last: list[float] = []
    repaints = [0]
    flip = Window.flip

    def counted_flip() -> None:  # Kivy flips only when something changed: a repaint
        repaints[0] += 1
        flip()

    Window.flip = counted_flip

    def on_frame(_dt: float) -> None:
        now = time.perf_counter()
        if last:
            intervals.append(now - last[0])
            last[0] = now
        else:
            last.append(now)

    event = Clock.schedule_interval(on_frame, 0)
    start = time.monotonic()
    await asyncio.sleep(seconds / 2)
    # Someone checks out by touch while the copies run: no camera is ready, so the station says so.
    await d.tap("checkout")
    await d.type("100234")
    await d.tap("key-next")
    await d.type("1234")
    await d.tap("key-next")
    await d.wait(lambda: d.has_text("Er kan nu geen camera worden uitgegeven"), 30, what="the refusal")
    await d.tap("done")
    remaining = seconds - (time.monotonic() - start)
    if remaining > 0:
        await asyncio.sleep(remaining)
    event.cancel()
    Window.flip = flip
    d.report(intervals_ms=[round(i * 1000, 3) for i in intervals], repaints=repaints[0],
             seconds=round(time.monotonic() - start, 2))


def _kiosk(socket: Path, window: str, seconds: float, display: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "kiosk_lab.driver", "--socket", str(socket), "--window", window,
           "--scenario", "bench.kiosk_frames:measure", "--arg", f"seconds={seconds}"]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "DISPLAY": display}, capture_output=True, text=True,
                          timeout=seconds + 300)
    if proc.returncode != 0:
        raise SystemExit(f"kiosk run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    report = next(json.loads(line) for line in reversed(proc.stdout.splitlines()) if '"intervals_ms"' in line)
    ms = report["intervals_ms"]
    return {
        "p99_frame_ms": round(percentile(ms, 0.99), 2),
        "p95_frame_ms": round(percentile(ms, 0.95), 2),
        "p50_frame_ms": round(statistics.median(ms), 2),
        "max_frame_ms": round(max(ms), 2),
        "frames": len(ms),
        "fps": round(len(ms) / report["seconds"], 1),
        "repaints": report["repaints"],
        "seconds": report["seconds"],
    }


def run(seconds: float, windows: list[str], rate_mbps: float, depth: int) -> dict[str, Any]:
    from bodydock.demo_kiosk import demo_dock, wait
    from device_adapters.simulated import camera as simcam
    from kiosk_lab.xvfb import virtual_display

    with tempfile.TemporaryDirectory(prefix="bodydock-kiosk-bench-") as tmp, \
            demo_dock(Path(tmp), slots=SLOTS, chunk_kib=64) as dock:
        # Enough footage per camera that every copy outlasts all runs at this rate.
        per_camera_mb = rate_mbps * (len(windows) * (seconds + 30) + 60)
        seconds_of_video = max(2.0, per_camera_mb * 8 / 2.5 / 2)  # two recordings at ~2.5 Mbit/s
        for sid in range(1, SLOTS + 1):
            cam = dock.camera(f"BWC-{sid:04d}", recordings=2, seconds=seconds_of_video, video_kbps=2500,
                              battery_percent=50, charge_rate_pps=0, faults={"read_rate_mbps": rate_mbps})
            simcam.dock(dock.dock_dir, sid, cam)
        wait(lambda: all(dock.state(s) == "offloading" for s in range(1, SLOTS + 1)), 120)
        display = os.environ.get("DISPLAY")
        own = None if display else virtual_display(1280, 800, depth=depth)
        if own is not None:
            display = own.__enter__()
        try:
            per_window = {w: _kiosk(dock.socket, w, seconds, str(display)) for w in windows}
        finally:
            if own is not None:
                own.__exit__(None, None, None)
        offloading_after = sum(dock.state(s) == "offloading" for s in range(1, SLOTS + 1))
        progress = sum(v.bytes_done for v in dock.daemon.station.views())
    return {
        "p99_frame_ms": max(r["p99_frame_ms"] for r in per_window.values()),
        "target_p99_frame_ms": 33,
        "windows": per_window,
        "display": f"DISPLAY={os.environ['DISPLAY']}" if os.environ.get("DISPLAY")
        else f"own Xvfb, {depth}-bit (software GL: llvmpipe)",
        "slots": SLOTS,
        "slots_offloading_at_end": offloading_after,
        "bytes_offloaded": progress,
        "read_rate_mbps_per_camera": rate_mbps,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--window", action="append", help="WxH (repeatable); default 800x480 and 1280x800")
    p.add_argument("--rate", type=float, default=0.5, help="read rate per camera, MB/s")
    p.add_argument("--depth", type=int, default=16, choices=(16, 24),
                   help="colour depth of the private Xvfb (when $DISPLAY is not set); see the module doc")
    a = p.parse_args()
    print(json.dumps(run(a.seconds, a.window or ["800x480", "1280x800"], a.rate, a.depth)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
