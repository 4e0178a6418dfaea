"""Media probe during the single read pass: ffprobe on a pipe plus an MP4 box walker.

The dock holds footage only encrypted, so it cannot probe the stored copy; instead the bytes
read from the camera are also fed to ``ffprobe -i pipe:0``. A small walker over the top-level
MP4 boxes catches truncation (a box that claims more bytes than the file has), which ffprobe on
a pipe may not report. Broken media is never repaired or dropped: it is offloaded byte-exact and
flagged ``media_ok: false`` with the reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import shutil
import subprocess
import threading
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)

_FEED_TIMEOUT_S = 10.0
_QUEUE_CHUNKS = 4


@dataclass(frozen=True)
class ProbeResult:
    media_ok: bool
    reason: str | None = None
    container: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    creation_time: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Mp4BoxWalker:
    """Follows top-level ISO-BMFF boxes across chunk boundaries without buffering bodies."""

    def __init__(self) -> None:
        self.pos = 0
        self._next_box = 0  # offset of the next box header
        self._header = bytearray()
        self.boxes: list[tuple[str, int, int]] = []  # (type, offset, declared size)
        self.problem: str | None = None

    def feed(self, buf: bytes | memoryview) -> None:
        view = memoryview(buf)
        end = self.pos + len(view)
        while self.problem is None and self._next_box < end:
            start_in_view = max(0, self._next_box - self.pos)
            need = 16 - len(self._header)
            take = view[start_in_view:start_in_view + need]
            self._header += take
            incomplete = len(self._header) < 8 or (len(self._header) < 16 and self._header[:4] == b"\0\0\0\1")
            if incomplete and start_in_view + len(take) >= len(view):
                break  # the header continues in the next chunk
            self._parse_header()
        self.pos = end

    def _parse_header(self) -> None:
        h = bytes(self._header)
        size = int.from_bytes(h[:4], "big")
        kind = h[4:8].decode("latin-1")
        if size == 1:
            if len(h) < 16:
                return
            size = int.from_bytes(h[8:16], "big")
        elif size == 0:
            size = -1  # box extends to the end of the file
        if size != -1 and size < 8:
            self.problem = f"invalid MP4 box '{kind}' of size {size} at offset {self._next_box}"
            return
        if not kind.isprintable():
            self.problem = f"not an MP4 box structure at offset {self._next_box}"
            return
        self.boxes.append((kind, self._next_box, size))
        self._header = bytearray()
        self._next_box = 1 << 62 if size == -1 else self._next_box + size

    def finish(self) -> str | None:
        if self.problem:
            return self.problem
        if not self.boxes:
            return "empty file" if self.pos == 0 else "no MP4 boxes"
        kind, offset, size = self.boxes[-1]
        if size != -1 and offset + size > self.pos:
            return f"truncated: box '{kind}' declares {size} bytes, file ends after {self.pos - offset}"
        if self._header:
            return "truncated inside a box header"
        if "moov" not in {b[0] for b in self.boxes}:
            return "no 'moov' box (recording was not finalised)"
        return None


class StreamProbe:
    """Feed it the recording's bytes in order; ``finish`` returns the probe result."""

    def __init__(self, ffprobe: str | None = None) -> None:
        self.walker = Mp4BoxWalker()
        self._queue: queue.Queue[bytes | None] = queue.Queue(_QUEUE_CHUNKS)
        self._gave_up: str | None = None
        self._ffprobe_done = False
        exe = ffprobe or shutil.which("ffprobe")
        self._proc: subprocess.Popen[bytes] | None = None
        if exe is None:
            self._gave_up = "ffprobe is not installed"
            return
        self._proc = subprocess.Popen(
            [exe, "-v", "error", "-show_format", "-show_streams", "-of", "json", "-i", "pipe:0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._feeder = threading.Thread(target=self._feed_loop, name="probe-feed", daemon=True)
        self._feeder.start()

    def _feed_loop(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        stdin = self._proc.stdin
        while (buf := self._queue.get()) is not None:
            try:
                stdin.write(buf)
            except (BrokenPipeError, OSError, ValueError):
                # ffprobe has seen enough (or given up); drain so the reader never blocks.
                self._ffprobe_done = True
                while self._queue.get() is not None:
                    pass
                break
        with contextlib.suppress(OSError):
            stdin.close()

    def feed(self, buf: bytes | memoryview) -> None:
        self.walker.feed(buf)
        if self._proc is None or self._gave_up or self._ffprobe_done:
            return
        try:
            # A copy: the caller reuses its buffer. ffprobe usually stops reading after the
            # first few MB (moov at the front), after which nothing is copied any more.
            self._queue.put(bytes(buf), timeout=_FEED_TIMEOUT_S)
        except queue.Full:
            self._abandon("ffprobe stopped reading")

    def _abandon(self, why: str) -> None:
        self._gave_up = why
        if self._proc is not None:
            self._proc.kill()
        # Unblock the feeder thread.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)

    def abort(self) -> None:
        """The read pass failed; stop ffprobe and forget the result."""
        if self._proc is not None and not self._gave_up:
            self._abandon("read pass aborted")
        if self._proc is not None:
            self._proc.wait()
            for stream in (self._proc.stdout, self._proc.stderr):
                if stream is not None:
                    stream.close()

    def finish(self) -> ProbeResult:
        structural = self.walker.finish()
        info: dict[str, Any] = {}
        error = self._gave_up
        if self._proc is not None and not self._gave_up:
            self._queue.put(None)
            # The feeder closes ffprobe's stdin once it has written everything.
            self._feeder.join(timeout=_FEED_TIMEOUT_S)
            self._proc.stdin = None  # closed by the feeder; communicate() must not touch it
            try:
                out, err = self._proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                out, err = self._proc.communicate()
                error = "ffprobe timed out"
            if self._proc.returncode == 0 and not error:
                try:
                    info = json.loads(out or b"{}")
                except json.JSONDecodeError:
                    error = "ffprobe printed invalid JSON"
            elif not error:
                lines = err.decode("utf-8", "replace").strip().splitlines()
                error = f"ffprobe: {lines[-1] if lines else 'failed'}"
        elif self._proc is not None:
            self._proc.wait()
        return _result(info, structural or error)


def _result(info: dict[str, Any], problem: str | None) -> ProbeResult:
    fmt = info.get("format", {})
    streams = info.get("streams", [])
    video: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"), {})
    audio: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "audio"), {})
    if problem is None and not video:
        problem = "no video stream"
    duration = fmt.get("duration")
    return ProbeResult(
        media_ok=problem is None,
        reason=problem,
        container=fmt.get("format_name"),
        video_codec=video.get("codec_name"),
        audio_codec=audio.get("codec_name"),
        duration_s=float(duration) if duration not in (None, "N/A") else None,
        width=video.get("width"),
        height=video.get("height"),
        creation_time=(fmt.get("tags") or {}).get("creation_time"),
    )
