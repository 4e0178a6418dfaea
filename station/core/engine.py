"""The station engine: one core thread owns the slots; workers do the slow I/O.

Device sources, workers and the domain API only *post* messages to the core's queue. The core
applies them to the state machine, journals each transition before acting on it, and starts
work on the pool. A job's result carries the slot's generation, so the result of work on a
camera that has since left (or been replaced) is recognised as stale and ignored.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_adapters.api import AdapterError, CameraGone, CameraInfo, Capability
from station.adapters.registry import AdapterRegistry
from station.core.alerts import Alerts, Severity
from station.core.checkout import CheckoutFlows
from station.core.clocksync import ClockSync
from station.core.events import EventBus, SlotChanged
from station.core.slot_runtime import SlotRuntime
from station.core.states import OCCUPIED, Event, Slot, SlotState, apply
from station.crashpoints import hang_point
from station.offload.pipeline import Cancelled, OffloadFault, OffloadJob, OffloadOk, Progress, StoreFull, offload_camera
from station.offload.pressure import OffloadPressure
from station.offload.wipe_gate import NotSafeYet, UnknownFootage, Wiped, WipeFault, wipe_camera
from station.outbox.deliverer import Deliverer, DeliveryPolicy
from station.outbox.target import VaultTarget
from station.sources.interface import (
    DeviceArrived,
    DeviceEvent,
    DeviceFault,
    DeviceLeft,
    DeviceSource,
    SourceSynced,
    UnmappedDevice,
)
from station.storage.audit import SYSTEM, AuditLog
from station.storage.journal import Journal
from station.storage.store import Store
from station.timeutil import utcnow

log = logging.getLogger(__name__)
S = SlotState


@dataclass(frozen=True)
class EngineSettings:
    station_id: str
    slot_ids: tuple[int, ...]
    verify_policy: str = "reread"
    wipe_after: str = "local_verified"
    min_battery_percent: int = 80
    max_parallel_offloads: int = 8
    chunk_size: int = 1024 * 1024
    retry_interval_s: float = 2.0
    battery_poll_s: float = 1.0
    recipients: tuple[str, ...] = ()
    max_parallel_per_controller: int = 4
    # Slot id -> USB host controller (bus) it hangs off; slots on one controller share its bandwidth.
    slot_controllers: tuple[tuple[int, str], ...] = ()
    probe_media: bool = True
    store_readback: bool = False
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    # A camera released for check-out but not taken within this time goes back to READY.
    release_timeout_s: float = 120.0
    # policies.retention_days, written into each manifest for the vault to apply.
    retention_days: int | None = None


@dataclass(frozen=True)
class _JobDone:
    slot_id: int
    generation: int
    job: str
    outcome: Any


@dataclass(frozen=True)
class _Command:
    fn: Callable[[], Any]
    done: threading.Event
    result: list[Any]


@dataclass(frozen=True)
class SlotView:
    id: int
    state: str
    camera_serial: str | None
    model: str | None
    wearer_id: str | None
    battery: int | None
    fault_reason: str | None
    notice: str | None
    busy: str | None
    recordings_done: int
    recordings_total: int
    bytes_done: int
    bytes_total: int
    battery_health: int | None = None  # percent of design capacity, where the camera reports it


@dataclass(frozen=True)
class _Failed:
    reason: str
    gone: bool = False


class Station:
    def __init__(
        self,
        *,
        settings: EngineSettings,
        journal: Journal,
        audit: AuditLog,
        store: Store,
        source: DeviceSource,
        target: VaultTarget,
        adapters: AdapterRegistry,
        signing_key: Ed25519PrivateKey,
        events: EventBus | None = None,
        clock: ClockSync | None = None,
    ) -> None:
        self.settings = settings
        self.events = events or EventBus()
        # Decides whether a camera may be released (its clock is set from ours); None refuses all.
        self.clock = clock
        self.journal, self.audit, self.store = journal, audit, store
        self.source, self.target, self.adapters = source, target, adapters
        self.signing_key = signing_key
        self._queue: queue.Queue[object] = queue.Queue()
        self._pool = ThreadPoolExecutor(max_workers=len(settings.slot_ids) + 2, thread_name_prefix="slotjob")
        self._offload_sem = threading.Semaphore(settings.max_parallel_offloads)
        controllers = dict(settings.slot_controllers)
        self._controller_sems = {
            c: threading.Semaphore(settings.max_parallel_per_controller) for c in set(controllers.values())
        }
        self._slot_controller = controllers
        self._stop = threading.Event()
        self._core: threading.Thread | None = None
        journal.ensure_slots(settings.slot_ids)
        self._slots: dict[int, Slot] = journal.load_slots()
        self._rt: dict[int, SlotRuntime] = {sid: SlotRuntime() for sid in settings.slot_ids}
        self._view_lock = threading.Lock()
        self._synced = False
        self.checkout = CheckoutFlows(
            slot_ids=settings.slot_ids, release_timeout_s=settings.release_timeout_s, journal=journal, audit=audit,
            events=self.events, clock=lambda: self.clock, slots=self._slots, runtime=self._rt,
            transition=self._transition, submit=self._submit,
        )
        self.alerts = Alerts(journal, audit)
        # Offloads say when they fall behind their cameras; the outbox then steps aside.
        self.pressure = OffloadPressure()
        self.deliverer = Deliverer(
            journal=journal, audit=audit, store=store, target=target, station_id=settings.station_id,
            policy=settings.delivery, alerts=self.alerts, signing_key=signing_key, yield_to=self.pressure.active,
        )
        self.last_loop = time.monotonic()

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.audit.append(who=SYSTEM, what="station.start", why="daemon started", device=self.settings.station_id)
        for partial in self.store.stray_partials():
            # A .partial is never a copy; the journal says which recording to redo.
            partial.unlink()
        self._core = threading.Thread(target=self._loop, name="core", daemon=True)
        self._core.start()
        self.events.start()
        self.deliverer.start()
        self.source.start(self.post)

    def stop(self) -> None:
        self.source.stop()
        self._stop.set()
        if self._core:
            self._core.join(timeout=30)
        self.deliverer.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for rt in self._rt.values():
            if rt.adapter:
                rt.adapter.close()
        self.target.close()
        self.events.stop()
        self.audit.append(who=SYSTEM, what="station.stop", why="daemon stopping", device=self.settings.station_id)
        self.audit.close()
        self.journal.close()

    def post(self, msg: DeviceEvent | object) -> None:
        self._queue.put(msg)

    def call(self, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run ``fn`` on the core thread (the only thread that changes slots) and return its result."""
        cmd = _Command(fn, threading.Event(), [])
        self._queue.put(cmd)
        if not cmd.done.wait(timeout):
            raise TimeoutError("station core did not answer")
        value = cmd.result[0]
        if isinstance(value, BaseException):
            raise value
        return value

    # --- read side ---------------------------------------------------------------------------
    def views(self) -> list[SlotView]:
        with self._view_lock:
            out = []
            for sid in self.settings.slot_ids:
                slot, rt = self._slots[sid], self._rt[sid]
                p = rt.progress
                out.append(SlotView(
                    id=sid, state=slot.state.value, camera_serial=slot.camera_serial,
                    model=rt.info.model if rt.info else None,
                    wearer_id=rt.info.wearer_id if rt.info else None,
                    battery=rt.battery, fault_reason=slot.fault_reason, notice=rt.notice, busy=rt.busy,
                    recordings_done=p.recordings_done, recordings_total=p.recordings_total,
                    bytes_done=p.bytes_done, bytes_total=p.bytes_total, battery_health=rt.battery_health,
                ))
            return out

    # --- core loop ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            hang_point("core.loop")  # tests: a hung core must stop the systemd watchdog
            self.last_loop = time.monotonic()
            try:
                msg = self._queue.get(timeout=0.2)
            except queue.Empty:
                msg = None
            try:
                if msg is not None:
                    self._handle(msg)
                self._tick()
            except Exception:
                log.exception("core loop error while handling %r", msg)

    def _handle(self, msg: object) -> None:
        if isinstance(msg, DeviceArrived):
            self._on_arrived(msg)
        elif isinstance(msg, DeviceLeft):
            self._on_left(msg.slot_id, "camera undocked")
        elif isinstance(msg, SourceSynced):
            self._on_synced()
        elif isinstance(msg, DeviceFault):
            self._on_device_fault(msg)
        elif isinstance(msg, UnmappedDevice):
            self._on_unmapped(msg)
        elif isinstance(msg, _JobDone):
            self._on_job_done(msg)
        elif isinstance(msg, _Command):
            try:
                msg.result.append(msg.fn())
            except BaseException as exc:  # handed back to the caller's thread
                msg.result.append(exc)
            msg.done.set()

    def _transition(self, sid: int, event: Event, *, serial: str | None = None, reason: str | None = None) -> Slot:
        old = self._slots[sid]
        new = apply(old, event, at=utcnow(), camera_serial=serial, reason=reason)
        self.journal.record_transition(old, new, event)  # durable before anyone acts on it
        with self._view_lock:
            self._slots[sid] = new
        log.info("slot %s: %s -[%s]-> %s%s", sid, old.state, event, new.state, f" ({reason})" if reason else "")
        if old.state is S.FAULT and new.state is not S.FAULT:
            self.alerts.clear(f"slot-fault:{sid}", why=f"slot {sid} left the fault state ({event})")
        self.events.publish(SlotChanged(slot_id=sid, state=new.state.value,
                                        camera_serial=new.camera_serial or old.camera_serial))
        return new

    def _on_arrived(self, ev: DeviceArrived) -> None:
        sid, rt = ev.slot_id, self._rt[ev.slot_id]
        if rt.adapter is not None and rt.locator == ev.locator:
            return
        if rt.adapter is not None:
            self._on_left(sid, "replaced by another device")
        rt.generation += 1
        try:
            # Lazy and guarded: the factory runs on the first call, every call has a timeout.
            rt.adapter = self.adapters.bind(ev.adapter, ev.locator, slot_id=sid)
        except Exception as exc:
            log.exception("slot %s: adapter %s failed to start", sid, ev.adapter)
            if self._slots[sid].state not in OCCUPIED:
                self._transition(sid, Event.ATTACH)
            self._transition(sid, Event.FAULT, reason=f"adapter {ev.adapter} failed: {exc}")
            return
        rt.adapter_name, rt.locator, rt.notice, rt.info = ev.adapter, ev.locator, None, None
        rt.progress = Progress()
        if self._slots[sid].state not in OCCUPIED:
            self._transition(sid, Event.ATTACH)
        self._submit(sid, "identify", rt.adapter.identify)

    def _on_device_fault(self, ev: DeviceFault) -> None:
        sid = ev.slot_id
        if self._rt[sid].adapter is not None:
            self._on_left(sid, ev.reason)
        if self._slots[sid].state not in OCCUPIED:
            self._transition(sid, Event.ATTACH)
        self._fault(sid, ev.reason)

    def _on_unmapped(self, ev: UnmappedDevice) -> None:
        self.audit.append(who=SYSTEM, what="device.unmapped", why="USB port is not assigned to a slot",
                          device=ev.description, result="ignored", details={"port": ev.port})
        self.alerts.raise_(f"unmapped-port:{ev.port}", Severity.WARN,
                           f"camera on USB port {ev.port}, which no slot lists, was ignored ({ev.description})")

    def _on_left(self, sid: int, why: str) -> None:
        rt = self._rt[sid]
        rt.generation += 1  # results of jobs still running on this camera become stale
        if rt.adapter is not None:
            try:
                rt.adapter.close()
            except Exception:
                log.exception("slot %s: adapter close failed", sid)
        rt.adapter, rt.locator, rt.busy, rt.notice, rt.battery = None, None, None, None, None
        rt.battery_health = None
        self.checkout.settle_gone(sid, why)
        slot = self._slots[sid]
        if slot.state not in OCCUPIED:
            return
        serial = slot.camera_serial or "unknown"
        if slot.state is S.ASSIGNED:
            self.checkout.checked_out(sid, serial)
        elif slot.state is S.READY:
            self.audit.append(who=SYSTEM, what="camera.undocked_unassigned", why=why, device=serial,
                              result="alert", details={"slot": sid})
            self.alerts.raise_(f"undocked-unassigned:{serial}", Severity.WARN,
                               f"camera {serial} was taken from slot {sid} without check-out")
            self.checkout.undocked_without_checkout(sid, serial)
        else:
            self.audit.append(who=SYSTEM, what="camera.removed", why=f"{why} while {slot.state}",
                              device=serial, result="interrupted", details={"slot": sid})
        self._transition(sid, Event.DETACH, reason=why)
        rt.info = None

    def _on_synced(self) -> None:
        self._synced = True
        for sid, slot in self._slots.items():
            if slot.state in OCCUPIED and self._rt[sid].adapter is None:
                self._on_left(sid, "camera not present after restart")

    # --- jobs -----------------------------------------------------------------------------
    def _submit(self, sid: int, job: str, fn: Callable[[], Any]) -> None:
        rt = self._rt[sid]
        gen = rt.generation
        rt.busy = job

        def run() -> None:
            try:
                outcome: Any = fn()
            except Cancelled:
                # The camera left or the station is stopping: the journal already says where
                # this work stands, and it resumes from there. Not a fault.
                log.info("slot %s: %s cancelled", sid, job)
                return
            except CameraGone as exc:
                outcome = _Failed(f"camera disconnected during {job}: {exc}", gone=True)
            except AdapterError as exc:
                outcome = _Failed(f"{job} failed: {exc}")
            except Exception as exc:
                log.error("slot %s: %s crashed:\n%s", sid, job, traceback.format_exc())
                outcome = _Failed(f"{job} failed unexpectedly: {type(exc).__name__}: {exc}")
            self.post(_JobDone(sid, gen, job, outcome))

        self._pool.submit(run)

    def _on_job_done(self, done: _JobDone) -> None:
        sid, rt = done.slot_id, self._rt[done.slot_id]
        if done.generation != rt.generation:
            log.info("slot %s: ignoring stale %s result", sid, done.job)
            return
        rt.busy = None
        out = done.outcome
        if isinstance(out, _Failed):
            if out.gone:
                self._on_left(sid, out.reason)
                return
            self._fault(sid, out.reason)
            return
        handlers: dict[str, Callable[[int, Any], None]] = {
            "identify": self._after_identify, "offload": self._after_offload, "wipe": self._after_wipe,
            "battery": self._after_battery, "assign": self.checkout.after_assign,
            "unassign": self.checkout.after_unassign,
        }
        handlers[done.job](sid, out)

    def _fault(self, sid: int, reason: str) -> None:
        self.checkout.settle_gone(sid, reason)
        slot = self._slots[sid]
        self.audit.append(who=SYSTEM, what="slot.fault", why=reason, device=slot.camera_serial or "",
                          result="fault", details={"slot": sid, "state": slot.state.value})
        if slot.state in OCCUPIED and slot.state is not S.FAULT:
            self._transition(sid, Event.FAULT, reason=reason)
        self.alerts.raise_(f"slot-fault:{sid}", Severity.CRITICAL, f"slot {sid}: {reason}")

    def _after_identify(self, sid: int, info: CameraInfo) -> None:
        rt, slot = self._rt[sid], self._slots[sid]
        info = self.checkout.identify_wearer(sid, info)  # the camera's last wearer, for check-in
        rt.info = info
        self.journal.upsert_camera(
            info.serial, model=info.model, firmware=info.firmware, vendor=info.vendor,
            adapter=rt.adapter_name or "", wearer_id=info.wearer_id, slot_id=sid,
        )
        resumed = slot.state not in (S.ATTACHED,) and slot.camera_serial == info.serial
        if slot.state is not S.ATTACHED and not resumed:
            # A different camera than the journal remembers: close the old story first.
            self._transition(sid, Event.DETACH, reason="a different camera is in the slot")
            self._transition(sid, Event.ATTACH)
            slot = self._slots[sid]
        self.audit.append(
            who=SYSTEM, what="camera.resumed" if resumed else "camera.docked", why="device detected",
            device=info.serial, details={"slot": sid, "model": info.model, "firmware": info.firmware,
                                         "wearer": info.wearer_id, "clock_offset_s": info.clock_offset_s},
        )
        if slot.state is S.ATTACHED:
            self._transition(sid, Event.IDENTIFY, serial=info.serial)
            self.checkout.docked(sid, info, resumed=False)
            self._start_offload(sid)
            return
        self.checkout.docked(sid, info, resumed=True)
        self._resume(sid)

    def _resume(self, sid: int) -> None:
        state = self._slots[sid].state
        if state is S.IDENTIFIED or state is S.OFFLOADING:
            self._start_offload(sid)
        elif state is S.VERIFIED or state is S.WIPING:
            self._start_wipe(sid)
        elif state is S.CHARGING:
            self._poll_battery(sid)
        elif state is S.FAULT:
            self._rt[sid].notice = "fault: staff must inspect this camera"
        # READY and ASSIGNED need nothing.

    def _start_offload(self, sid: int) -> None:
        rt = self._rt[sid]
        if self._slots[sid].state is not S.OFFLOADING:
            self._transition(sid, Event.START_OFFLOAD)
        assert rt.adapter is not None and rt.info is not None
        gen = rt.generation
        job = OffloadJob(
            journal=self.journal, audit=self.audit, store=self.store, signing_key=self.signing_key,
            station_id=self.settings.station_id, slot_id=sid, adapter=rt.adapter, camera=rt.info,
            verify_policy=self.settings.verify_policy, chunk_size=self.settings.chunk_size,
            progress=rt.progress, recipients=self.settings.recipients, probe_media=self.settings.probe_media,
            store_readback=self.settings.store_readback, retention_days=self.settings.retention_days,
            cancelled=lambda: self._stop.is_set() or self._rt[sid].generation != gen, pressure=self.pressure,
        )
        controller = self._controller_sems.get(self._slot_controller.get(sid, ""), contextlib.nullcontext())

        def run() -> Any:
            # Global limit first, then the slot's USB controller: bounded CPU and fair bus use.
            with self._offload_sem, controller:
                result = offload_camera(job)
            self.deliverer.kick()
            return result

        self._submit(sid, "offload", run)

    def _after_offload(self, sid: int, result: Any) -> None:
        rt = self._rt[sid]
        if isinstance(result, StoreFull):
            rt.notice = "dock storage full"
            rt.retry_at = time.monotonic() + self.settings.retry_interval_s
            return
        if isinstance(result, OffloadFault):
            self._fault(sid, result.reason)
            return
        assert isinstance(result, OffloadOk)
        rt.notice = None
        self._transition(sid, Event.OFFLOADED)
        self._start_wipe(sid)

    def _start_wipe(self, sid: int) -> None:
        rt = self._rt[sid]
        assert rt.adapter is not None and rt.info is not None
        if self._slots[sid].state is not S.WIPING:
            self._transition(sid, Event.START_WIPE)
        adapter, info = rt.adapter, rt.info
        self._submit(sid, "wipe", lambda: wipe_camera(
            journal=self.journal, audit=self.audit, adapter=adapter, camera=info, slot_id=sid,
            wipe_after=self.settings.wipe_after,
        ))

    def _after_wipe(self, sid: int, result: Any) -> None:
        rt = self._rt[sid]
        if isinstance(result, NotSafeYet):
            rt.notice = result.reason
            rt.retry_at = time.monotonic() + self.settings.retry_interval_s
            return
        if isinstance(result, UnknownFootage):
            self._transition(sid, Event.START_OFFLOAD)
            self._start_offload(sid)
            return
        if isinstance(result, WipeFault):
            self._fault(sid, result.reason)
            return
        assert isinstance(result, Wiped)
        rt.notice = None
        self._transition(sid, Event.WIPED)
        self._poll_battery(sid)

    def _poll_battery(self, sid: int) -> None:
        rt = self._rt[sid]
        if rt.adapter is None or rt.busy:
            return
        if Capability.BATTERY not in rt.adapter.descriptor.capabilities:
            # The camera cannot report its charge (e.g. a plain mass-storage camera): once wiped it
            # is ready as it is.
            if self._slots[sid].state is S.CHARGING:
                self._transition(sid, Event.CHARGED)
                self.audit.append(who=SYSTEM, what="camera.ready", why="wiped; this camera does not report its battery",
                                  device=self._slots[sid].camera_serial or "", details={"slot": sid, "battery": None})
                self.checkout.ready(sid, None)
            return
        self._submit(sid, "battery", rt.adapter.battery)

    def _after_battery(self, sid: int, battery: Any) -> None:
        rt = self._rt[sid]
        rt.battery, rt.battery_health = battery.percent, battery.health_percent
        if self._slots[sid].state is S.CHARGING:
            if battery.percent >= self.settings.min_battery_percent:
                rt.notice = None
                self._transition(sid, Event.CHARGED)
                self.audit.append(who=SYSTEM, what="camera.ready", why="wiped and charged",
                                  device=self._slots[sid].camera_serial or "",
                                  details={"slot": sid, "battery": battery.percent})
                self.checkout.ready(sid, battery.percent)
            else:
                rt.notice = f"charging ({battery.percent}%)"
        rt.retry_at = time.monotonic() + self.settings.battery_poll_s

    def _tick(self) -> None:
        now = time.monotonic()
        self.checkout.tick(now)  # deferred check-outs, release timeouts (checkout.py)
        for sid, slot in self._slots.items():
            rt = self._rt[sid]
            if rt.adapter is None or rt.busy or now < rt.retry_at or rt.info is None:
                continue
            if slot.state is S.OFFLOADING and rt.notice:
                self._start_offload(sid)
            elif slot.state in (S.VERIFIED, S.WIPING) and rt.notice:
                self._start_wipe(sid)
            elif slot.state in (S.CHARGING, S.READY, S.ASSIGNED):
                self._poll_battery(sid)
