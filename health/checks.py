"""The checks: pure functions from the gathered facts and the configured thresholds to a result.

Every result says what is the case and, when it is not ok, what staff should do, as a code and
its params; ``health.texts`` turns those into English (logs, CLI) and Dutch (kiosk, status page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from config.model import HealthConfig
from health.clock import ClockUnknown
from health.facts import Facts, SlotFacts
from health.model import CheckResult, Fact, Status, graded, ok, result, unknown, worst
from station.timeutil import iso

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
    name, d = "store", f.store
    facts: dict[str, Fact] = {"free_bytes": d.free_bytes, "total_bytes": d.total_bytes,
                              "free_percent": round(d.free_percent, 1), "writable": d.writable}
    if not d.writable:
        return result(name, Status.CRITICAL, "store.not_writable", {"path": str(d.path), "error": d.write_error},
                      facts=facts)
    if d.free_bytes <= f.store_reserve_bytes:
        return result(name, Status.CRITICAL, "store.reserve", {"free": d.free_bytes, "reserve": f.store_reserve_bytes},
                      facts=facts)
    t = lim.health.store
    status = graded(d.free_percent, t.warn_free_percent, t.critical_free_percent, lower_is_worse=True)
    params: dict[str, Fact] = {"free": d.free_bytes, "total": d.total_bytes, "percent": d.free_percent}
    return result(name, status, "store.ok" if status is Status.OK else "store.filling", params, facts=facts)


def check_backlog(f: Facts, lim: Limits) -> CheckResult:
    name, b = "backlog", f.backlog
    if b is None:
        return unknown(name, "backlog.unreadable")
    facts: dict[str, Fact] = {"recordings": b.recordings, "bytes": b.bytes, "oldest_age_s": b.oldest_age_s}
    if b.recordings == 0:
        return ok(name, "backlog.empty", **facts)
    t = lim.health.backlog
    status = worst([graded(b.oldest_age_s or 0.0, t.warn_oldest_age_s, t.critical_oldest_age_s),
                    graded(b.recordings, t.warn_count, t.critical_count)])
    params: dict[str, Fact] = {"recordings": b.recordings, "bytes": b.bytes, "oldest": b.oldest_age_s or 0.0}
    return result(name, status, "backlog.waiting" if status is Status.OK else "backlog.behind", params, facts=facts)


# Alerts the station itself raises about the vault (the deliverer); the vault check agrees with them.
VAULT_ALERT_PREFIX = "vault-"


def check_vault(f: Facts, lim: Limits) -> CheckResult:
    name, v = "vault", f.vault
    if v is None:
        return unknown(name, "vault.daemon_only")
    since_success = None if v.last_success is None else (f.at - v.last_success).total_seconds()
    last = None if since_success is None else round(since_success, 1)
    facts: dict[str, Fact] = {"target": v.target, "last_error": v.last_error, "last_success_age_s": last}
    # An open vault alert from the deliverer (unreachable, host key, auth, full) is a fact about
    # the vault even when nothing is waiting: the check must never say ok beside it.
    raised = [a for a in f.alerts if a.key.startswith(VAULT_ALERT_PREFIX)]
    alert = max(raised, key=lambda a: (a.severity == "critical", a.last_seen)) if raised else None
    from_alert = Status.OK if alert is None else Status.CRITICAL if alert.severity == "critical" else Status.WARN
    if alert is not None:
        facts["alert"] = alert.key
    silent_status = Status.OK
    silent = 0.0
    if v.waiting_since is not None:
        silent = max(0.0, (f.at - v.waiting_since).total_seconds())
        facts["silent_s"] = round(silent, 1)
        t = lim.health.vault
        silent_status = graded(silent, t.warn_after_s, t.critical_after_s)
    status = worst([from_alert, silent_status])
    if silent_status is not Status.OK:
        return result(name, status, "vault.silent", {"target": v.target, "silent": silent, "error": v.last_error},
                      facts=facts)
    if alert is not None:
        return result(name, status, "vault.alert", {"message": alert.message.rstrip("."), "last": last}, facts=facts)
    return ok(name, "vault.idle" if v.waiting_since is None else "vault.delivering", {"last": last}, **facts)


def check_clock(f: Facts, lim: Limits) -> CheckResult:
    name, c = "clock", f.clock
    if isinstance(c, ClockUnknown):
        return unknown(name, "clock.unknown", {"reason": c.reason.rstrip(".")})
    facts: dict[str, Fact] = {"source": c.source, "synchronized": c.synchronized, "service_active": c.service_active,
                              "offset_s": c.offset_s}
    params: dict[str, Fact] = {"detail": c.detail, "offset": c.offset_s}
    if c.service_active is False:
        return result(name, Status.CRITICAL, "clock.no_service", params, facts=facts)
    t = lim.health.clock
    offset_status = Status.OK if c.offset_s is None else graded(c.offset_s, t.warn_offset_s, t.critical_offset_s)
    if not c.synchronized:
        return result(name, worst([Status.WARN, offset_status]), "clock.not_synced", params, facts=facts)
    if offset_status is not Status.OK:
        return result(name, offset_status, "clock.off", params, facts=facts)
    return ok(name, "clock.synced", params, **facts)


def check_cpu_temperature(f: Facts, lim: Limits) -> CheckResult:
    name, th = "cpu_temperature", f.thermal
    if th is None:
        return unknown(name, "cpu_temperature.no_sensor")
    t = lim.health.cpu
    status = graded(th.celsius, t.warn_temp_c, t.critical_temp_c)
    facts: dict[str, Fact] = {"celsius": th.celsius, "zone": th.zone}
    return result(name, status, "cpu_temperature.ok" if status is Status.OK else "cpu_temperature.hot", facts,
                  facts=facts)


def check_load(f: Facts, lim: Limits) -> CheckResult:
    name, ld = "load", f.load
    if ld is None:
        return unknown(name, "load.unreadable")
    t = lim.health.cpu
    status = graded(ld.per_cpu, t.warn_load_per_cpu, t.critical_load_per_cpu)
    facts: dict[str, Fact] = {"load1": ld.load1, "load5": ld.load5, "load15": ld.load15, "cpus": ld.cpus}
    return result(name, status, "load.ok" if status is Status.OK else "load.high", {"load5": ld.load5, "cpus": ld.cpus},
                  facts=facts)


def check_memory(f: Facts, lim: Limits) -> CheckResult:
    name, m = "memory", f.memory
    if m is None:
        return unknown(name, "memory.unreadable")
    t = lim.health.memory
    status = graded(m.available_percent, t.warn_available_percent, t.critical_available_percent, lower_is_worse=True)
    facts: dict[str, Fact] = {"available_bytes": m.available_bytes, "total_bytes": m.total_bytes}
    params: dict[str, Fact] = {"available": m.available_bytes, "total": m.total_bytes, "percent": m.available_percent}
    return result(name, status, "memory.ok" if status is Status.OK else "memory.low", params, facts=facts)


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
    name = "slots"
    items: list[dict[str, Fact]] = []
    statuses: list[Status] = []
    charging_only = True
    for slot in f.slots:
        status, held, limit = _stuck(slot, f, lim)
        if status is Status.OK:
            continue
        statuses.append(status)
        charging_only &= slot.state == CHARGING
        items.append({"label": slot.label, "state": slot.state, "held": held, "limit": limit, "notice": slot.notice})
    working = sum(1 for s in f.slots if s.state in (*WORKING_STATES, CHARGING))
    faulted = sum(1 for s in f.slots if s.state == "fault")
    facts: dict[str, Fact] = {"stuck": len(items), "working": working, "fault": faulted}
    if not items:
        return ok(name, "slots.ok_faults" if faulted else "slots.ok", {"working": working, "fault": faulted}, **facts)
    return result(name, worst(statuses), "slots.not_charging" if charging_only else "slots.stuck", items=items,
                  facts=facts)


def check_adapters(f: Facts, lim: Limits) -> CheckResult:
    name, t = "adapters", lim.health.adapters
    items: list[dict[str, Fact]] = []
    statuses: list[Status] = []
    for a in f.adapters:
        if a.faults < t.min_faults:
            continue
        status = graded(a.rate, t.warn_rate, t.critical_rate)
        if status is Status.OK:
            continue
        statuses.append(status)
        items.append({"adapter": a.adapter, "faults": a.faults, "docked": a.docked, "window": t.window_s,
                      "rate": a.rate})
    total = sum(a.faults for a in f.adapters)
    facts: dict[str, Fact] = {"faults": total, "docked": sum(a.docked for a in f.adapters)}
    if not items:
        return ok(name, "adapters.ok", {"faults": total, "window": t.window_s}, **facts)
    return result(name, worst(statuses), "adapters.failing", items=items, facts=facts)


def check_battery(f: Facts, lim: Limits) -> CheckResult:
    name, t = "battery", lim.health.battery
    reporting = [s for s in f.slots if s.battery_health_percent is not None]
    items: list[dict[str, Fact]] = []
    statuses: list[Status] = []
    for s in reporting:
        assert s.battery_health_percent is not None
        status = graded(s.battery_health_percent, t.warn_health_percent, t.critical_health_percent,
                        lower_is_worse=True)
        if status is not Status.OK:
            statuses.append(status)
            items.append({"serial": s.camera_serial or "?", "label": s.label, "health": s.battery_health_percent})
    facts: dict[str, Fact] = {"reporting": len(reporting), "worn": len(items)}
    if not reporting:
        return ok(name, "battery.none", **facts)
    if not items:
        return ok(name, "battery.ok", {"reporting": len(reporting)}, **facts)
    return result(name, worst(statuses), "battery.worn", items=items, facts=facts)


def check_keys(f: Facts, lim: Limits) -> CheckResult:
    name = "keys"
    bad = [k for k in f.keys if k.problem]
    facts: dict[str, Fact] = {"files": len(f.keys), "problems": len(bad)}
    if not bad:
        return ok(name, "keys.ok", {"files": len(f.keys)}, **facts)
    return result(name, Status.CRITICAL, "keys.problem",
                  items=[{"name": k.name, "path": k.path, "problem": k.problem} for k in bad], facts=facts)


def check_audit(f: Facts, lim: Limits) -> CheckResult:
    name, a = "audit", f.audit
    if a is None:
        return unknown(name, "audit.not_checked")
    checked = round((f.at - a.checked_at).total_seconds(), 1)
    facts: dict[str, Fact] = {"entries": a.entries, "checked_age_s": checked, "entries_now": a.entries_now,
                              "checked_at": iso(a.checked_at)}
    if not a.ok:
        return result(name, Status.CRITICAL, "audit.broken", {"problem": a.problem}, facts=facts)
    # The chain is verified every integrity interval; the log grows in between. Say both counts.
    now = a.entries_now if a.entries_now is not None else a.entries
    if now > a.entries:
        return ok(name, "audit.intact_since", {"entries": a.entries, "checked": checked, "added": now - a.entries,
                                               "total": now}, **facts)
    return ok(name, "audit.intact", {"entries": a.entries, "checked": checked}, **facts)


def check_journal(f: Facts, lim: Limits) -> CheckResult:
    name, j = "journal", f.journal
    if j is None:
        return unknown(name, "journal.not_checked")
    if j.ok:
        return ok(name, "journal.ok")
    return result(name, Status.CRITICAL, "journal.broken")


def check_core(f: Facts, lim: Limits) -> CheckResult:
    name, age = "core", f.core_loop_age_s
    if not f.live or age is None:
        return result(name, Status.CRITICAL, "core.down")
    if age >= CORE_STALL_S:
        return result(name, Status.CRITICAL, "core.stalled", {"age": age}, facts={"loop_age_s": round(age, 1)})
    return ok(name, "core.running", loop_age_s=round(age, 1))


CHECKS: tuple[Callable[[Facts, Limits], CheckResult], ...] = (
    check_store, check_backlog, check_vault, check_clock, check_cpu_temperature, check_load, check_memory,
    check_slots, check_adapters, check_battery, check_keys, check_audit, check_journal, check_core,
)
CHECK_NAMES = ("store", "backlog", "vault", "clock", "cpu_temperature", "load", "memory", "slots", "adapters",
               "battery", "keys", "audit", "journal", "core")


def run_checks(f: Facts, lim: Limits) -> tuple[CheckResult, ...]:
    return tuple(check(f, lim) for check in CHECKS)
