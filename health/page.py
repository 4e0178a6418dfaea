"""The staff status page: one server-rendered HTML page, no scripts, refreshes itself.

Large black-on-white text and status words next to every colour, for a desk screen or a phone
in a storeroom. Shows no footage, no wearer identity, and people only as initials. In the
station's language (``station.language``; ``?lang=en``/``?lang=nl`` switches), times in the
station's time zone, named once in the header.
"""

from __future__ import annotations

import html
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from health import fmt, texts
from health.facts import SlotFacts
from health.model import Status
from health.report import HealthReport
from station.storage.journal import AlertRow
from station.timeutil import parse_iso

REFRESH_S = 15

# The page's own words (the check texts come from health.texts). Few enough for a table beside
# the checks' table: no gettext toolchain for the page, and health never imports the kiosk.
_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "OK": "OK", "WARN": "WARN", "CRITICAL": "CRITICAL", "UNKNOWN": "UNKNOWN",
        "dock": "dock", "updated": "updated", "times": "times in {zone}",
        "alerts": "Open alerts", "no_alerts": "No open alerts.", "severity": "Severity", "alert": "Alert",
        "raised": "Raised", "acknowledged": "Acknowledged", "acked": "acknowledged {when} by {who}", "no": "no",
        "slots": "Slots", "slot": "Slot", "state": "State", "camera": "Camera", "battery": "Battery",
        "battery_health": "Battery health", "since": "Since", "notes": "Notes",
        "progress": "{done}/{total} recordings, {size}",
        "waiting": "Waiting for the vault:", "unknown": "unknown",
        "backlog": "{n} recording(s), {size}", "oldest": ", oldest {age}",
        "checks": "Checks", "status": "Status", "check": "Check", "case": "What is the case", "todo": "What to do",
        "footer": "Read-only status page; it refreshes every {s} s. It shows no footage and no personal data beyond "
                  "initials. Acknowledge alerts on the dock's staff screen.",
        "other": "Nederlands", "other_lang": "nl",
        "slot_fault": "Fault in slot {slot}", "vault_alert": "Vault problem",
    },
    "nl": {
        "OK": "OK", "WARN": "LET OP", "CRITICAL": "STORING", "UNKNOWN": "ONBEKEND",
        "dock": "dock", "updated": "bijgewerkt", "times": "tijden in {zone}",
        "alerts": "Open meldingen", "no_alerts": "Geen open meldingen.", "severity": "Ernst", "alert": "Melding",
        "raised": "Gemeld", "acknowledged": "Bevestigd", "acked": "bevestigd {when} door {who}", "no": "nee",
        "slots": "Vakken", "slot": "Vak", "state": "Toestand", "camera": "Camera", "battery": "Accu",
        "battery_health": "Accuconditie", "since": "Sinds", "notes": "Opmerkingen",
        "progress": "{done}/{total} opnamen, {size}",
        "waiting": "Wacht op de kluis:", "unknown": "onbekend",
        "backlog": "{n} opname(n), {size}", "oldest": ", oudste {age}",
        "checks": "Controles", "status": "Status", "check": "Controle", "case": "Wat is er aan de hand",
        "todo": "Wat te doen",
        "footer": "Alleen-lezen statuspagina; ververst elke {s} s. Toont geen opnamen en geen persoonsgegevens behalve "
                  "initialen. Bevestig meldingen op het beheerscherm van het dock.",
        "other": "English", "other_lang": "en",
        "slot_fault": "Storing in vak {slot}", "vault_alert": "Probleem met de kluis",
    },
}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:18px/1.45 "DejaVu Sans",Verdana,Arial,sans-serif;color:#000;background:#fff}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.6em 1.2em;padding:.8em 1.2em;background:#000;color:#fff}
header h1{margin:0;font-size:1.5em}
header .meta{font-size:.9em}
header a{color:#fff;font-weight:bold;margin-left:auto}
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
.detail{font-size:.85em}
td.num{text-align:right;white-space:nowrap}
td.nowrap{white-space:nowrap}
footer{padding:.8em 1.2em;font-size:.85em;border-top:1px solid #000}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


class _Page:
    def __init__(self, report: HealthReport, tz: tzinfo, lang: str) -> None:
        self.report, self.tz, self.lang = report, tz, lang
        self.w = _WORDS[lang]

    def badge(self, status: Status) -> str:
        return f'<span class="badge {status.value}">{_e(self.w[status.name])}</span>'

    def when(self, ts: datetime | str | None) -> str:
        if ts is None:
            return "–"
        dt = parse_iso(ts) if isinstance(ts, str) else ts
        return dt.astimezone(self.tz).strftime("%d-%m %H:%M")

    def alert_text(self, a: AlertRow) -> str:
        """A health alert in words from its check; the station's own alerts by kind, with the
        station's English reason beside it (it names what failed, for technical support)."""
        if a.key.startswith("health:"):
            check = next((c for c in self.report.checks if f"health:{c.name}" == a.key), None)
            if check is not None and check.code:
                summary, _action = check.text(self.lang)
                return f"<b>{_e(texts.title(check.name, self.lang))}</b>: {_e(summary)}"
        head, _, tail = a.key.partition(":")
        if self.lang != "en":
            if head == "slot-fault":
                return f"<b>{_e(self.w['slot_fault'].format(slot=tail))}</b><br><span class=\"detail\">" \
                       f"{_e(a.message)}</span>"
            if head.startswith("vault-"):
                return f"<b>{_e(self.w['vault_alert'])}</b><br><span class=\"detail\">{_e(a.message)}</span>"
        return _e(a.message)

    def alerts(self, alerts: tuple[AlertRow, ...]) -> str:
        w = self.w
        if not alerts:
            return f"<p>{_e(w['no_alerts'])}</p>"
        rows = []
        for a in alerts:
            status = Status.CRITICAL if a.severity == "critical" else Status.WARN
            who = fmt.initials(a.acked_by) or "?"
            acked = _e(w["acked"].format(when=self.when(a.acked_at), who=who)) if a.acked_at else _e(w["no"])
            rows.append(f"<tr><td>{self.badge(status)}</td><td>{self.alert_text(a)}</td>"
                        f"<td class=\"nowrap\">{self.when(a.raised_at)}</td><td>{acked}</td></tr>")
        return (f"<table><thead><tr><th>{w['severity']}</th><th>{w['alert']}</th><th>{w['raised']}</th>"
                f"<th>{w['acknowledged']}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")

    def slot_row(self, s: SlotFacts) -> str:
        camera = _e(s.camera_serial) if s.camera_serial else "–"
        if s.model:
            camera += f"<br><small>{_e(s.model)}</small>"
        battery = f"{s.battery_percent}%" if s.battery_percent is not None else "–"
        health = f"{s.battery_health_percent}%" if s.battery_health_percent is not None else "–"
        notes = [n for n in (s.fault_reason, s.notice) if n]
        if s.state == "offloading" and s.recordings_total:
            notes.insert(0, self.w["progress"].format(done=s.recordings_done, total=s.recordings_total,
                                                      size=texts.size(s.bytes_done, self.lang)))
        return (f"<tr><td class=\"big\"><b>{_e(s.label)}</b></td><td>{_e(texts.state_word(s.state, self.lang))}</td>"
                f"<td class=\"nowrap\">{camera}</td><td class=\"num\">{battery}</td><td class=\"num\">{health}</td>"
                f"<td class=\"nowrap\">{self.when(s.since)}</td>"
                f"<td>{'<br>'.join(_e(n) for n in notes) or ''}</td></tr>")

    def checks(self) -> str:
        rows = []
        for c in sorted(self.report.checks, key=lambda c: -c.status.rank):
            summary, action = c.text(self.lang)
            rows.append(f"<tr><td>{self.badge(c.status)}</td><td><b>{_e(texts.title(c.name, self.lang))}</b></td>"
                        f"<td>{_e(summary)}</td><td class=\"action\">{_e(action)}</td></tr>")
        return "".join(rows)

    def backlog(self) -> str:
        b = self.report.facts.backlog
        if b is None:
            return self.w["unknown"]
        text = self.w["backlog"].format(n=b.recordings, size=texts.size(b.bytes, self.lang))
        if b.oldest_age_s:
            text += self.w["oldest"].format(age=texts.duration(b.oldest_age_s, self.lang))
        return text

    def html(self) -> str:
        r, f, w = self.report, self.report.facts, self.w
        zone = f"{self.tz} ({f.at.astimezone(self.tz).strftime('%Z')})"
        slots = "".join(self.slot_row(s) for s in f.slots)
        return f"""<!DOCTYPE html>
<html lang="{self.lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_S}">
<title>{_e(w[r.status.name])} · {_e(r.station_name)} · bodydock</title>
<style>{CSS}</style></head>
<body>
<header><h1>{_e(r.station_name)}</h1>{self.badge(r.status)}
<span class="meta">{w['dock']} {_e(r.station_id)} · bodydock {_e(r.version)} ·
{w['updated']} {self.when(f.at)} · {_e(w['times'].format(zone=zone))}</span>
<a href="?lang={w['other_lang']}" hreflang="{w['other_lang']}" lang="{w['other_lang']}">{w['other']}</a></header>
<main>
<h2>{w['alerts']} ({len(f.alerts)})</h2>
{self.alerts(f.alerts)}
<h2>{w['slots']}</h2>
<table><thead><tr><th>{w['slot']}</th><th>{w['state']}</th><th>{w['camera']}</th><th>{w['battery']}</th>
<th>{w['battery_health']}</th><th>{w['since']}</th><th>{w['notes']}</th></tr></thead><tbody>{slots}</tbody></table>
<p><b>{w['waiting']}</b> {_e(self.backlog())}</p>
<h2>{w['checks']}</h2>
<table><thead><tr><th>{w['status']}</th><th>{w['check']}</th><th>{w['case']}</th><th>{w['todo']}</th></tr></thead>
<tbody>{self.checks()}</tbody></table>
</main>
<footer>{_e(w['footer'].format(s=REFRESH_S))}</footer>
</body></html>
"""


def render(report: HealthReport, timezone: str, language: str = "nl") -> str:
    try:
        tz: tzinfo = ZoneInfo(timezone)
    except Exception:
        tz = ZoneInfo("UTC")
    return _Page(report, tz, language if language in _WORDS else "en").html()
