"""``bodydock status`` and ``bodydock alerts``: the daemon's view over its local API socket,
or, when the daemon cannot be reached, what the files alone say (offline)."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import sys
import textwrap
from pathlib import Path
from typing import Any, TextIO

from bodydock.cli_shift import station_time
from config.model import StationConfig
from health import fmt
from health.gather import Gatherer
from health.monitor import build_report
from health.report import report_json

_TIMEOUT_S = 10.0
EXIT = {"ok": 0, "unknown": 0, "warn": 1, "critical": 2}


class DaemonUnreachable(Exception):
    pass


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def call(path: Path, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    conn = _UnixConnection(path, _TIMEOUT_S)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, url, body=data, headers={"content-type": "application/json"} if data else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    except (OSError, http.client.HTTPException) as exc:
        raise DaemonUnreachable(f"{path}: {exc}") from exc
    finally:
        conn.close()


def status_json(cfg: StationConfig) -> tuple[dict[str, Any], str | None]:
    """The daemon's report, or an offline one with the reason the daemon was not asked."""
    try:
        code, body = call(cfg.api_socket, "GET", "/api/status")
        if code == 200 and isinstance(body, dict):
            return body, None
        problem = f"the daemon answered HTTP {code}"
    except DaemonUnreachable as exc:
        problem = f"the daemon is not reachable ({exc})"
    report = build_report(cfg, Gatherer(cfg), None, force_integrity=True)
    return report_json(report, public=False), problem


def _wrap(text: str, indent: int, width: int) -> list[str]:
    return textwrap.wrap(text, width=max(40, width - indent)) or [""]


def _time(ts: str | None, timezone: str) -> str:
    return station_time(ts, timezone) if ts else "-"


def render_table(data: dict[str, Any], problem: str | None, out: TextIO, width: int = 100,
                 timezone: str = "UTC") -> None:
    st = data["station"]
    mode = "live" if data["live"] else "OFFLINE"
    print(f"{st['name']} ({st['id']}), bodydock {st['version']}: {data['status'].upper()}  [{mode}]", file=out)
    print(f"  as of {_time(data.get('generated_at'), timezone)}; times are station time ({timezone})", file=out)
    if problem:
        print(f"  {problem}; checks below come from the files only.", file=out)
    print(file=out)
    print(f"{'CHECK':<22} {'STATUS':<9} WHAT IS THE CASE / WHAT TO DO", file=out)
    for c in data["checks"]:
        lines = _wrap(c["summary"], 33, width)
        if c["action"]:
            lines += _wrap("-> " + c["action"], 33, width)
        status = c["status"] if c["status"] in ("ok", "unknown") else c["status"].upper()
        print(f"{c['title']:<22} {status:<9} {lines[0]}", file=out)
        for line in lines[1:]:
            print(f"{'':<32} {line}", file=out)
    print(file=out)
    print(f"{'SLOT':<6} {'STATE':<12} {'CAMERA':<16} {'BATTERY':>7} {'HEALTH':>7}  {'SINCE':<19} NOTES", file=out)
    for s in data["slots"]:
        battery = f"{s['battery_percent']}%" if s["battery_percent"] is not None else "-"
        health = f"{s['battery_health_percent']}%" if s["battery_health_percent"] is not None else "-"
        notes = "; ".join(n for n in (s["fault_reason"], s["notice"]) if n)
        print(f"{s['label']:<6} {s['state']:<12} {s['camera_serial'] or '-':<16} {battery:>7} {health:>7}  "
              f"{_time(s['since'], timezone):<19} {notes}", file=out)
    if data["backlog"] is not None:
        b = data["backlog"]
        oldest = f", oldest {fmt.duration(b['oldest_age_s'])}" if b["oldest_age_s"] else ""
        print(f"\nWaiting for the vault: {b['recordings']} recording(s), {fmt.size(b['bytes'])}{oldest}", file=out)
    print(f"\nOPEN ALERTS ({len(data['alerts'])})", file=out)
    render_alerts(data["alerts"], out, width, timezone)


def render_alerts(alerts: list[dict[str, Any]], out: TextIO, width: int = 100, timezone: str = "UTC") -> None:
    for a in alerts:
        acked = f" (acknowledged by {a['acked_by']} {_time(a['acked_at'], timezone)})" if a["acknowledged"] else ""
        lines = _wrap(a["message"] + acked, 36, width)
        print(f"#{a['id']:<5} {a['severity'].upper():<9} {_time(a['raised_at'], timezone):<19} {lines[0]}", file=out)
        for line in lines[1:]:
            print(f"{'':<36}{line}", file=out)


def cmd_status(cfg: StationConfig, as_json: bool, out: TextIO = sys.stdout) -> int:
    data, problem = status_json(cfg)
    if as_json:
        if problem:
            data["daemon_problem"] = problem
        print(json.dumps(data, indent=2), file=out)
    else:
        render_table(data, problem, out, shutil.get_terminal_size((100, 24)).columns, cfg.station.timezone)
    return EXIT.get(data["status"], 2)


def cmd_alerts(cfg: StationConfig, as_json: bool, out: TextIO = sys.stdout) -> int:
    data, problem = status_json(cfg)
    if as_json:
        print(json.dumps(data["alerts"], indent=2), file=out)
    else:
        if problem:
            print(f"({problem}; alerts as the journal holds them)", file=out)
        if data["alerts"]:
            render_alerts(data["alerts"], out, timezone=cfg.station.timezone)
        else:
            print("No open alerts.", file=out)
    return 0


def cmd_ack(cfg: StationConfig, alert_id: int, who: str, out: TextIO = sys.stdout) -> int:
    """Acknowledge through the daemon: it is the audit log's only writer."""
    try:
        code, body = call(cfg.api_socket, "POST", f"/api/alerts/{alert_id}/ack", {"by": who})
    except DaemonUnreachable as exc:
        print(f"bodydock: cannot acknowledge: {exc}", file=sys.stderr)
        return 1
    if code != 200:
        print(f"bodydock: {body.get('error') if isinstance(body, dict) else body}", file=sys.stderr)
        return 1
    print(f"alert {alert_id} acknowledged by {who}", file=out)
    return 0
