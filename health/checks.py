"""The checks: pure functions from the gathered facts and the configured thresholds to a result.

Every result says what is the case and, when it is not ok, what staff should do. English here;
the kiosk translates by check name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from config.model import HealthConfig
from health import fmt
from health.clock import ClockUnknown
from health.facts import Facts, SlotFacts
from health.model import CheckResult, Fact, Status, graded, ok, unknown, worst

# The core loop wakes at least every 0.2 s; this long without a heartbeat means it is hung.
CORE_STALL_S = 30.0
# States in which the station is working on the camera and should move on by itself.
WORKING_STATES = ("attached", "identified", "offloading", "verified", "wiping")
CHARGING = "charging"


@dataclass(frozen=True)
class Limits:
    health: HealthConfig
    step_timeout_s: float


def check_store(f: Facts, lim: Limits) -> CheckResult:
    name, title, d = "store", "Store disk", f.store
    facts: dict[str, Fact] = {"free_bytes": d.free_bytes, "total_bytes": d.total_bytes,
                              "free_percent": round(d.free_percent, 1), "writable": d.writable}
    space_action = ("Check that the vault is reachable so stored footage can leave the dock. Do not delete files "
                    "by hand; call technical support if the disk stays full.")
    if not d.writable:
        return CheckResult(name, title, Status.CRITICAL,
                           f"The store disk ({d.path}) cannot be written: {d.write_error}.",
                           "Offloads fail until it is writable. Check the disk and its mount (read-only after errors?) "
                           "and call technical support.", facts)
    if d.free_bytes <= f.store_reserve_bytes:
        return CheckResult(name, title, Status.CRITICAL,
                           f"Only {fmt.size(d.free_bytes)} free on the store disk, within the reserve of "
                           f"{fmt.size(f.store_reserve_bytes)}: offloads are paused.", space_action, facts)
    t = lim.health.store
    status = graded(d.free_percent, t.warn_free_percent, t.critical_free_percent, lower_is_worse=True)
    summary = f"{fmt.size(d.free_bytes)} free of {fmt.size(d.total_bytes)} ({d.free_percent:.0f}%) on the store disk."
    if status is Status.OK:
        return ok(name, title, summary, **facts)
    return CheckResult(name, title, status, f"Store disk is filling up: {summary}", space_action, facts)


def check_backlog(f: Facts, lim: Limits) -> CheckResult:
    name, title, b = "backlog", "Upload backlog", f.backlog
    if b is None:
        return unknown(name, title, "The upload backlog could not be read.")
    facts: dict[str, Fact] = {"recordings": b.recordings, "bytes": b.bytes, "oldest_age_s": b.oldest_age_s}
    if b.recordings == 0:
        return ok(name, title, "Nothing is waiting for the vault.", **facts)
    t = lim.health.backlog
    status = worst([graded(b.oldest_age_s or 0.0, t.warn_oldest_age_s, t.critical_oldest_age_s),
                    graded(b.recordings, t.warn_count, t.critical_count)])
    summary = (f"{b.recordings} recording(s) ({fmt.size(b.bytes)}) wait for the vault; the oldest for "
               f"{fmt.duration(b.oldest_age_s or 0.0)}.")
    if status is Status.OK:
        return ok(name, title, summary, **facts)
    return CheckResult(name, title, status, summary,
                       "See the vault check and the network to the vault. The footage stays safe on the dock "
                       "until the vault confirms it.", facts)


def check_vault(f: Facts, lim: Limits) -> CheckResult:
    name, title, v = "vault", "Vault contact", f.vault
    if v is None:
        return unknown(name, title, "Vault contact is known only to the running daemon.")
    since_success = None if v.last_success is None else (f.at - v.last_success).total_seconds()
    last = "never since start-up" if since_success is None else f"{fmt.duration(since_success)} ago"
    facts: dict[str, Fact] = {
        "target": v.target, "last_error": v.last_error,
        "last_success_age_s": None if since_success is None else round(since_success, 1)}
    if v.waiting_since is None:
        return ok(name, title, f"Nothing to deliver; last successful delivery {last}.", **facts)
    silent = max(0.0, (f.at - v.waiting_since).total_seconds())
    facts["silent_s"] = round(silent, 1)
    t = lim.health.vault
    status = graded(silent, t.warn_after_s, t.critical_after_s)
    if status is Status.OK:
        return ok(name, title, f"Delivering to the vault; last successful delivery {last}.", **facts)
    error = f" Last error: {v.last_error}." if v.last_error else ""
    return CheckResult(name, title, status,
                       f"No successful delivery to the vault ({v.target}) for {fmt.duration(silent)}.{error}",
                       "Check the network connection and the vault server; the error says what failed. Footage "
                       "waits safely on the dock meanwhile.", facts)


def check_clock(f: Facts, lim: Limits) -> CheckResult:
    name, title, c = "clock", "Clock synchronisation", f.clock
    if isinstance(c, ClockUnknown):
        return unknown(name, title, f"Clock synchronisation state unknown: {c.reason.rstrip('.')}.",
                       "Make sure chrony or systemd-timesyncd runs on the dock.")
    facts: dict[str, Fact] = {"source": c.source, "synchronized": c.synchronized, "service_active": c.service_active,
             "offset_s": c.offset_s}
    detail = f" ({c.detail})" if c.detail else ""
    fix = ("Check that the dock reaches the municipality's time server (NTP, UDP port 123). Recordings and audit "
           "records carry the dock's time.")
    if c.service_active is False:
        return CheckResult(name, title, Status.CRITICAL, f"No time synchronisation service is active{detail}: "
                           "the clock will drift.", "Enable it (timedatectl set-ntp true, or start chrony). " + fix,
                           facts)
    t = lim.health.clock
    offset_status = Status.OK if c.offset_s is None else graded(c.offset_s, t.warn_offset_s, t.critical_offset_s)
    offset = "" if c.offset_s is None else f"; offset {fmt.seconds(c.offset_s)}"
    if not c.synchronized:
        return CheckResult(name, title, worst([Status.WARN, offset_status]),
                           f"The clock is not synchronised{detail}{offset}.", fix, facts)
    if offset_status is not Status.OK:
        return CheckResult(name, title, offset_status,
                           f"The clock is off by {fmt.seconds(c.offset_s or 0.0)}{detail}.", fix, facts)
    return ok(name, title, f"Synchronised{detail}{offset}.", **facts)


def check_cpu_temperature(f: Facts, lim: Limits) -> CheckResult:
    name, title, th = "cpu_temperature", "CPU temperature", f.thermal
    if th is None:
        return unknown(name, title, "No temperature sensor found; the temperature is unknown.")
    t = lim.health.cpu
    status = graded(th.celsius, t.warn_temp_c, t.critical_temp_c)
    summary = f"CPU temperature {th.celsius:.0f} °C ({th.zone})."
    facts: dict[str, Fact] = {"celsius": th.celsius, "zone": th.zone}
    if status is Status.OK:
        return ok(name, title, summary, **facts)
    return CheckResult(name, title, status, f"The dock is hot: {summary}",
                       "Check the dock's ventilation: fans, dust filters, a closed cupboard, direct sun.", facts)


def check_load(f: Facts, lim: Limits) -> CheckResult:
    name, title, ld = "load", "CPU load", f.load
    if ld is None:
        return unknown(name, title, "The load average could not be read.")
    t = lim.health.cpu
    status = graded(ld.per_cpu, t.warn_load_per_cpu, t.critical_load_per_cpu)
    summary = f"Load average {ld.load5:.2f} over 5 minutes on {ld.cpus} CPU(s)."
    facts: dict[str, Fact] = {"load1": ld.load1, "load5": ld.load5, "load15": ld.load15, "cpus": ld.cpus}
    if status is Status.OK:
        return ok(name, title, summary, **facts)
    return CheckResult(name, title, status, f"The dock is overloaded: {summary}",
                       "Offloads and uploads slow down. If it lasts, call technical support (check `top`).", facts)


def check_memory(f: Facts, lim: Limits) -> CheckResult:
    name, title, m = "memory", "Memory", f.memory
    if m is None:
        return unknown(name, title, "Memory use could not be read.")
    t = lim.health.memory
    status = graded(m.available_percent, t.warn_available_percent, t.critical_available_percent, lower_is_worse=True)
    summary = (f"{fmt.size(m.available_bytes)} of {fmt.size(m.total_bytes)} memory available "
               f"({m.available_percent:.0f}%).")
    facts: dict[str, Fact] = {"available_bytes": m.available_bytes, "total_bytes": m.total_bytes}
    if status is Status.OK:
        return ok(name, title, summary, **facts)
    return CheckResult(name, title, status, f"Memory is running out: {summary}",
                       "Restart bodydock at a quiet moment (docked cameras resume where they were) and report it "
                       "to technical support.", facts)


def _stuck(slot: SlotFacts, f: Facts, lim: Limits) -> tuple[Status, float, float]:
    if slot.state == CHARGING:
        limit = lim.health.slots.charging_timeout_s
    elif slot.state in WORKING_STATES:
        limit = lim.step_timeout_s
    else:
        return Status.OK, 0.0, 0.0
    anchors = [a for a in (slot.since, slot.progress_at) if a is not None]
    if not anchors:
        return Status.OK, 0.0, limit
    held = (f.at - max(anchors)).total_seconds()
    return graded(held, limit, limit * lim.health.slots.critical_factor), held, limit


def check_slots(f: Facts, lim: Limits) -> CheckResult:
    name, title = "slots", "Slots"
    lines: list[str] = []
    statuses: list[Status] = []
    charging_only = True
    for slot in f.slots:
        status, held, limit = _stuck(slot, f, lim)
        if status is Status.OK:
            continue
        statuses.append(status)
        charging_only &= slot.state == CHARGING
        why = f" ({slot.notice})" if slot.notice else ""
        lines.append(f"Slot {slot.label} is stuck in {slot.state} for {fmt.duration(held)} "
                     f"(limit {fmt.duration(limit)}){why}.")
    working = sum(1 for s in f.slots if s.state in (*WORKING_STATES, CHARGING))
    faulted = sum(1 for s in f.slots if s.state == "fault")
    facts: dict[str, Fact] = {"stuck": len(lines), "working": working, "fault": faulted}
    if not lines:
        faults = f"; {faulted} in fault, see the alerts" if faulted else ""
        return ok(name, title, f"No slot is stuck ({working} working{faults}).", **facts)
    action = ("Take the camera out and dock it again. If the slot stays stuck, mark it out of order and call "
              "technical support.")
    if charging_only:
        action = ("The camera does not reach the minimum charge: check the slot's charging contacts, or replace the "
                  "camera's battery.")
    return CheckResult(name, title, worst(statuses), " ".join(lines), action, facts)


def check_adapters(f: Facts, lim: Limits) -> CheckResult:
    name, title, t = "adapters", "Camera adapters", lim.health.adapters
    window = fmt.duration(t.window_s)
    lines: list[str] = []
    statuses: list[Status] = []
    for a in f.adapters:
        if a.faults < t.min_faults:
            continue
        status = graded(a.rate, t.warn_rate, t.critical_rate)
        if status is Status.OK:
            continue
        statuses.append(status)
        lines.append(f"Adapter {a.adapter}: {a.faults} slot fault(s) for {a.docked} docked camera(s) in the last "
                     f"{window} ({a.rate:.0%}).")
    total = sum(a.faults for a in f.adapters)
    facts: dict[str, Fact] = {"faults": total, "docked": sum(a.docked for a in f.adapters)}
    if not lines:
        return ok(name, title, f"{total} slot fault(s) in the last {window}.", **facts)
    return CheckResult(name, title, worst(statuses), " ".join(lines),
                       "Read the fault reasons on the slots and in the audit log. If one camera model keeps failing, "
                       "report it to its vendor or the adapter's maintainer.", facts)


def check_battery(f: Facts, lim: Limits) -> CheckResult:
    name, title, t = "battery", "Camera batteries", lim.health.battery
    reporting = [s for s in f.slots if s.battery_health_percent is not None]
    lines: list[str] = []
    statuses: list[Status] = []
    for s in reporting:
        assert s.battery_health_percent is not None
        status = graded(s.battery_health_percent, t.warn_health_percent, t.critical_health_percent,
                        lower_is_worse=True)
        if status is not Status.OK:
            statuses.append(status)
            lines.append(f"Camera {s.camera_serial or '?'} in slot {s.label}: battery health "
                         f"{s.battery_health_percent}%.")
    facts: dict[str, Fact] = {"reporting": len(reporting), "worn": len(lines)}
    if not reporting:
        return ok(name, title, "No docked camera reports its battery health.", **facts)
    if not lines:
        return ok(name, title, f"{len(reporting)} docked camera(s) report healthy batteries.", **facts)
    return CheckResult(name, title, worst(statuses), " ".join(lines),
                       "Replace the battery (or the camera) of the camera(s) listed; a worn battery may not last "
                       "a shift.", facts)


def check_keys(f: Facts, lim: Limits) -> CheckResult:
    name, title = "keys", "Key files"
    bad = [k for k in f.keys if k.problem]
    facts: dict[str, Fact] = {"files": len(f.keys), "problems": len(bad)}
    if not bad:
        return ok(name, title, f"{len(f.keys)} key file(s) present with safe permissions.", **facts)
    lines = " ".join(f"The {k.name} ({k.path}): {k.problem}." for k in bad)
    return CheckResult(name, title, Status.CRITICAL, lines,
                       "Restore the file from the dock's key backup with mode 0600 (chmod 600 PATH). Without the "
                       "signing key the station cannot sign footage; without the vault key it cannot deliver.", facts)


def check_audit(f: Facts, lim: Limits) -> CheckResult:
    name, title, a = "audit", "Audit log", f.audit
    if a is None:
        return unknown(name, title, "The audit log has not been checked yet.")
    facts: dict[str, Fact] = {"entries": a.entries, "checked_age_s": round((f.at - a.checked_at).total_seconds(), 1)}
    if a.ok:
        return ok(name, title, f"Hash chain intact ({a.entries} entries).", **facts)
    return CheckResult(name, title, Status.CRITICAL, f"The audit log's hash chain is broken: {a.problem}.",
                       "Do not edit, move or delete the audit log. Keep the dock running, and report it to the "
                       "privacy officer and technical support; `bodydock audit verify` shows the details.", facts)


def check_journal(f: Facts, lim: Limits) -> CheckResult:
    name, title, j = "journal", "Journal", f.journal
    if j is None:
        return unknown(name, title, "The journal has not been checked yet.")
    if j.ok:
        return ok(name, title, "Journal database passes its integrity check.")
    return CheckResult(name, title, Status.CRITICAL, "The journal database failed its integrity check.",
                       "Do not dock more cameras; keep the files as they are and call technical support. The "
                       "journal decides what may be wiped from a camera.")


def check_core(f: Facts, lim: Limits) -> CheckResult:
    name, title, age = "core", "Station core", f.core_loop_age_s
    if not f.live or age is None:
        return CheckResult(name, title, Status.CRITICAL, "The station daemon is not running or cannot be reached.",
                           "Start it (systemctl start bodydock) and read its log (journalctl -u bodydock).")
    if age >= CORE_STALL_S:
        return CheckResult(name, title, Status.CRITICAL, f"The station core has not responded for {fmt.duration(age)}.",
                           "systemd restarts bodydock when its watchdog runs out. If this stays, restart it and "
                           "call technical support.", {"loop_age_s": round(age, 1)})
    return ok(name, title, "The station core is running.", loop_age_s=round(age, 1))


CHECKS: tuple[Callable[[Facts, Limits], CheckResult], ...] = (
    check_store, check_backlog, check_vault, check_clock, check_cpu_temperature, check_load, check_memory,
    check_slots, check_adapters, check_battery, check_keys, check_audit, check_journal, check_core,
)
CHECK_NAMES = ("store", "backlog", "vault", "clock", "cpu_temperature", "load", "memory", "slots", "adapters",
               "battery", "keys", "audit", "journal", "core")


def run_checks(f: Facts, lim: Limits) -> tuple[CheckResult, ...]:
    return tuple(check(f, lim) for check in CHECKS)
