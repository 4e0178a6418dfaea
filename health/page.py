"""The staff status page: one server-rendered HTML page, no scripts, refreshes itself.

Large black-on-white text and status words next to every colour, for a desk screen or a phone
in a storeroom. Shows no footage, no wearer identity, and people only as initials.
"""

from __future__ import annotations

import html
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from health import fmt
from health.facts import SlotFacts
from health.model import Status
from health.report import HealthReport
from station.storage.journal import AlertRow
from station.timeutil import parse_iso

REFRESH_S = 15
_LABEL = {Status.OK: "OK", Status.WARN: "WARN", Status.CRITICAL: "CRITICAL", Status.UNKNOWN: "UNKNOWN"}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:18px/1.45 "DejaVu Sans",Verdana,Arial,sans-serif;color:#000;background:#fff}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.6em 1.2em;padding:.8em 1.2em;background:#000;color:#fff}
header h1{margin:0;font-size:1.5em}
header .meta{font-size:.9em}
main{padding:.6em 1.2em 1.5em;max-width:1400px}
h2{font-size:1.25em;margin:1.1em 0 .4em;border-bottom:3px solid #000}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.35em .6em;border-bottom:1px solid #000}
th{background:#e6e6e6}
.badge{display:inline-block;min-width:6.5em;text-align:center;font-weight:bold;padding:.1em .5em;border:2px solid #000}
.ok{background:#0a5c1a;color:#fff}
.warn{background:#ffd500;color:#000}
.critical{background:#a0001c;color:#fff}
.unknown{background:#4a4a4a;color:#fff}
.big{font-size:1.2em}
.action{font-weight:bold}
td.num{text-align:right;white-space:nowrap}
td.nowrap{white-space:nowrap}
footer{padding:.8em 1.2em;font-size:.85em;border-top:1px solid #000}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _badge(status: Status) -> str:
    return f'<span class="badge {status.value}">{_LABEL[status]}</span>'


def _when(ts: datetime | str | None, tz: tzinfo) -> str:
    if ts is None:
        return "–"
    dt = parse_iso(ts) if isinstance(ts, str) else ts
    return dt.astimezone(tz).strftime("%d-%m %H:%M")


def _alerts(alerts: tuple[AlertRow, ...], tz: tzinfo) -> str:
    if not alerts:
        return "<p>No open alerts.</p>"
    rows = []
    for a in alerts:
        status = Status.CRITICAL if a.severity == "critical" else Status.WARN
        acked = f"acknowledged {_when(a.acked_at, tz)} by {_e(fmt.initials(a.acked_by) or '?')}" if a.acked_at else "no"
        rows.append(f"<tr><td>{_badge(status)}</td><td>{_e(a.message)}</td>"
                    f"<td class=\"nowrap\">{_when(a.raised_at, tz)}</td><td>{acked}</td></tr>")
    return ("<table><thead><tr><th>Severity</th><th>Alert</th><th>Raised</th><th>Acknowledged</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _slot_row(s: SlotFacts, tz: tzinfo) -> str:
    camera = _e(s.camera_serial) if s.camera_serial else "–"
    if s.model:
        camera += f"<br><small>{_e(s.model)}</small>"
    battery = f"{s.battery_percent}%" if s.battery_percent is not None else "–"
    health = f"{s.battery_health_percent}%" if s.battery_health_percent is not None else "–"
    notes = [n for n in (s.fault_reason, s.notice) if n]
    if s.state == "offloading" and s.recordings_total:
        notes.insert(0, f"{s.recordings_done}/{s.recordings_total} recordings, {fmt.size(s.bytes_done)}")
    return (f"<tr><td class=\"big\"><b>{_e(s.label)}</b></td><td>{_e(s.state)}</td><td class=\"nowrap\">{camera}</td>"
            f"<td class=\"num\">{battery}</td><td class=\"num\">{health}</td>"
            f"<td class=\"nowrap\">{_when(s.since, tz)}</td>"
            f"<td>{'<br>'.join(_e(n) for n in notes) or ''}</td></tr>")


def render(report: HealthReport, timezone: str) -> str:
    try:
        tz: tzinfo = ZoneInfo(timezone)
    except Exception:
        tz = ZoneInfo("UTC")
    f = report.facts
    checks = "".join(
        f"<tr><td>{_badge(c.status)}</td><td><b>{_e(c.title)}</b></td><td>{_e(c.summary)}</td>"
        f"<td class=\"action\">{_e(c.action)}</td></tr>"
        for c in sorted(report.checks, key=lambda c: -c.status.rank)
    )
    slots = "".join(_slot_row(s, tz) for s in f.slots)
    backlog = "unknown"
    if f.backlog is not None:
        backlog = (f"{f.backlog.recordings} recording(s), {fmt.size(f.backlog.bytes)}"
                   + (f", oldest {fmt.duration(f.backlog.oldest_age_s)}" if f.backlog.oldest_age_s else ""))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_S}">
<title>{_e(_LABEL[report.status])} · {_e(report.station_name)} · bodydock</title>
<style>{CSS}</style></head>
<body>
<header><h1>{_e(report.station_name)}</h1>{_badge(report.status)}
<span class="meta">dock {_e(report.station_id)} · bodydock {_e(report.version)} ·
updated {_when(f.at, tz)}</span></header>
<main>
<h2>Open alerts ({len(f.alerts)})</h2>
{_alerts(f.alerts, tz)}
<h2>Slots</h2>
<table><thead><tr><th>Slot</th><th>State</th><th>Camera</th><th>Battery</th><th>Battery health</th><th>Since</th>
<th>Notes</th></tr></thead><tbody>{slots}</tbody></table>
<p><b>Waiting for the vault:</b> {_e(backlog)}</p>
<h2>Checks</h2>
<table><thead><tr><th>Status</th><th>Check</th><th>What is the case</th><th>What to do</th></tr></thead>
<tbody>{checks}</tbody></table>
</main>
<footer>Read-only status page; it refreshes every {REFRESH_S} s. It shows no footage and no personal data
beyond initials. Acknowledge alerts on the dock's staff screen.</footer>
</body></html>
"""
