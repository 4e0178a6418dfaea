"""Home: the slot grid (state, battery, offload progress, wearer initials) and alert banners."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ui.client.model import Alert, SlotInfo, Snapshot
from ui.i18n import N_, Translator
from ui.viewmodels.base import ViewModel
from ui.viewmodels.fmt import Formatter
from ui.viewmodels.look import Icon, Tone


@dataclass(frozen=True)
class SlotTile:
    slot_id: int
    label: str  # "Vak 3"
    status: str  # the state in words
    icon: Icon
    tone: Tone
    battery: str | None  # "80%" (shown next to a battery shape)
    battery_icon: str  # "battery-0".."battery-4": the shape filled by quarters
    progress: float | None  # 0..1 while copying
    progress_text: str  # "45%" while copying
    initials: str | None


@dataclass(frozen=True)
class Banner:
    text: str
    severity: str  # the severity in words
    icon: Icon
    tone: Tone


@dataclass(frozen=True)
class HomeState:
    title: str
    tiles: tuple[SlotTile, ...]
    banners: tuple[Banner, ...]
    connected: bool
    can_checkout: bool
    can_checkin: bool


# State -> (words, icon, tone). Words are marked here, translated when rendered.
_STATES: dict[str, tuple[str, Icon, Tone]] = {
    "empty": (N_("Empty"), Icon.EMPTY, Tone.IDLE),
    "attached": (N_("Identifying"), Icon.DOTS, Tone.BUSY),
    "identified": (N_("Identified"), Icon.DOTS, Tone.BUSY),
    "offloading": (N_("Copying"), Icon.ARROW, Tone.BUSY),
    "verified": (N_("Checking copy"), Icon.DOTS, Tone.BUSY),
    "wiping": (N_("Wiping"), Icon.DOTS, Tone.BUSY),
    "charging": (N_("Charging"), Icon.BOLT, Tone.BUSY),
    "ready": (N_("Ready"), Icon.CHECK, Tone.OK),
    "assigned": (N_("Take me"), Icon.PERSON, Tone.OK),
    "checked_out": (N_("Out"), Icon.PERSON, Tone.IDLE),
    "fault": (N_("Fault"), Icon.WARNING, Tone.FAULT),
}

_ALERTS: dict[str, str] = {
    "vault_offline": N_("Vault unreachable: footage stays safe in the dock"),
    "vault_problem": N_("Vault problem: staff have been alerted"),
    "storage_low": N_("Dock storage almost full"),
    "backlog": N_("Footage is waiting to be sent to the vault"),
    "clock": N_("Dock clock not synchronised: no check-out possible"),
    # The banner puts the severity word before this ("Fault: slot 8 – ..."): the text must not repeat it.
    "slot_fault": N_("slot {slot} – staff have been alerted, leave the camera in the dock"),
    "taken_without_checkout": N_("A camera was taken without check-out"),
    "dock_hardware": N_("Dock hardware needs attention"),
    "other": N_("The dock needs attention from staff"),
}


def alert_text(t: Translator, a: Alert) -> str:
    return t(_ALERTS.get(a.kind, _ALERTS["other"])).format(slot=a.slot_id if a.slot_id is not None else "?")


# Staff read the same alerts with the slot named first; they are the ones alerted.
_STAFF_ALERTS: dict[str, str] = {
    "slot_fault": N_("Slot {slot}: the camera has a fault"),
}


def staff_alert_text(t: Translator, a: Alert) -> str:
    if a.kind in _STAFF_ALERTS:
        return t(_STAFF_ALERTS[a.kind]).format(slot=a.slot_id if a.slot_id is not None else "?")
    return alert_text(t, a)


def severity_words(t: Translator, severity: str) -> str:
    return t("Fault") if severity == "critical" else t("Attention")


class HomeViewModel(ViewModel):
    def __init__(self, t: Translator) -> None:
        super().__init__()
        self.t = t
        self.snapshot: Snapshot | None = None
        self.connected = False
        self.state = self._build()

    def set_translator(self, t: Translator) -> None:
        self.t = t
        self._refresh()

    def update(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._refresh()

    def set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self._refresh()

    def _refresh(self) -> None:
        new = self._build()
        if new != self.state:
            self.state = new
            self._changed()

    def _tile(self, s: SlotInfo, fmt: Formatter) -> SlotTile:
        t = self.t
        words, icon, tone = _STATES.get(s.state, (N_("Unknown"), Icon.WARNING, Tone.WARN))
        status = t(words)
        progress, progress_text = None, ""
        if s.state == "offloading":
            progress = s.progress.fraction
            progress_text = fmt.percent(100 * progress) if progress is not None else ""
            if s.notice == "storage_full":
                status, icon, tone = t("Waiting: storage full"), Icon.WARNING, Tone.WARN
        battery = None if s.battery is None or s.state in ("empty", "checked_out") else fmt.percent(s.battery)
        quarters = 0 if s.battery is None else max(0, min(4, math.ceil(s.battery / 25)))
        initials = s.wearer_initials if s.state == "assigned" else None
        return SlotTile(s.id, t("Slot {label}").format(label=s.label), status, icon, tone, battery,
                        f"battery-{quarters}", progress, progress_text, initials)

    def _build(self) -> HomeState:
        t = self.t
        snap = self.snapshot
        if snap is None:
            return HomeState(t("Bodycam dock"), (), self._banners(), self.connected, False, False)
        fmt = Formatter(t, snap.station.timezone)
        tiles = tuple(self._tile(s, fmt) for s in snap.slots)
        # Both stay available while connected: the next screen explains what is possible and why.
        return HomeState(snap.station.name or t("Bodycam dock"), tiles, self._banners(), self.connected,
                         can_checkout=self.connected, can_checkin=self.connected)

    def _banners(self) -> tuple[Banner, ...]:
        t = self.t
        out: list[Banner] = []
        if not self.connected:
            out.append(Banner(t("No connection with the dock: reconnecting…"), t("Fault"), Icon.WARNING, Tone.FAULT))
        if self.snapshot is not None:
            open_alerts = [a for a in self.snapshot.alerts if not a.acknowledged]
            open_alerts.sort(key=lambda a: (a.severity != "critical", a.id))
            seen: set[str] = set()
            for a in open_alerts:
                text = alert_text(t, a)
                if text in seen:
                    continue
                seen.add(text)
                critical = a.severity == "critical"
                out.append(Banner(text, severity_words(t, a.severity), Icon.WARNING,
                                  Tone.FAULT if critical else Tone.WARN))
            st = self.snapshot.station
            if st.key_fingerprint and not st.vault_received:  # first boot: staff register the dock at the vault
                out.append(Banner(t("Dock key for the vault: {fingerprint}").format(fingerprint=st.key_fingerprint),
                                  t("Attention"), Icon.LOCK, Tone.WARN))
        return tuple(out)
