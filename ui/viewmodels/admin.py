"""Admin: the configuration summary, the roster (and a sync now), the software version. Reached
from the staff screen with an admin's session."""

from __future__ import annotations

from dataclasses import dataclass

from ui.client.model import Refusal, Session
from ui.client.service import KioskService
from ui.client.staffmodel import AdminInfo
from ui.i18n import N_, Translator
from ui.viewmodels.base import ViewModel

CONFIG_LABELS: dict[str, str] = {
    "station.id": N_("Dock"),
    "station.name": N_("Name"),
    "slots": N_("Slots"),
    "dock.source": N_("Camera detection"),
    "vault.target": N_("Vault"),
    "vault.recipients": N_("Vault keys"),
    "policies.verify": N_("Copy verification"),
    "policies.wipe_after": N_("Wipe cameras after"),
    "policies.min_battery_percent": N_("Minimum battery"),
    "policies.retention_days": N_("Retention (days)"),
    "store.reserve_mb": N_("Storage reserve (MB)"),
    "checkout.policy": N_("Camera choice"),
    "language": N_("Language"),
}


@dataclass(frozen=True)
class AdminState:
    loading: bool
    title: str
    version: str
    rows: tuple[tuple[str, str], ...]
    roster: str
    message: str
    allowed: bool


class AdminViewModel(ViewModel):
    def __init__(self, service: KioskService, t: Translator) -> None:
        super().__init__()
        self.service, self.t = service, t
        self.session: Session | None = None
        self.info: AdminInfo | None = None
        self.refusal: Refusal | None = None
        self.syncing = False
        self._gen = 0
        self.state = self._build()

    def set_translator(self, t: Translator) -> None:
        self.t = t
        self._emit()

    def start(self, session: Session | None) -> None:
        self._gen += 1
        self.session, self.info, self.refusal, self.syncing = session, None, None, False
        if session is not None and "admin" in session.roles:
            gen = self._gen
            self.service.admin(session.token, lambda r: self._on_info(gen, r))
        self._emit()

    def sync_roster(self) -> None:
        if self.session is None or self.syncing:
            return
        self.syncing = True
        gen = self._gen
        self.service.roster_sync(self.session.token, lambda r: self._on_info(gen, r))
        self._emit()

    def _on_info(self, gen: int, result: AdminInfo | Refusal) -> None:
        if gen != self._gen:
            return
        self.syncing = False
        if isinstance(result, Refusal):
            self.refusal = result
        else:
            self.info, self.refusal = result, None
        self._emit()

    def _emit(self) -> None:
        self.state = self._build()
        self._changed()

    def _build(self) -> AdminState:
        t = self.t
        title = t("Administration")
        allowed = self.session is not None and "admin" in self.session.roles
        if not allowed:
            return AdminState(False, title, "", (), "", t("Only an administrator can open this screen."), False)
        info = self.info
        if info is None:
            msg = t("Could not load the settings.") if self.refusal else t("One moment…")
            return AdminState(self.refusal is None, title, "", (), "", msg, True)
        rows = tuple((t(CONFIG_LABELS[k]) if k in CONFIG_LABELS else k, v) for k, v in info.config)
        r = info.roster
        roster = t.n("{n} officer, from {source}", "{n} officers, from {source}", r.officers).format(
            n=r.officers, source=r.source)
        if r.problem:
            roster += " · " + t("last sync failed")
        message = t("Synchronising roster…") if self.syncing else ""
        if self.refusal is not None:
            message = t("The roster could not be synchronised.")
        elif info.message and not self.syncing:
            message = t("Roster synchronised.")
        return AdminState(False, title, t("Version {version}").format(version=info.version), rows, roster, message,
                          True)
