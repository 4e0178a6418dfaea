"""What the checks say, in words: one table from a result's code to its sentence, per language.

A check result carries a stable ``code`` and its ``params`` (raw numbers and names, never
sentences); this table turns them into the English kept in logs, the CLI and the JSON API, and
into Dutch for a Dutch station's kiosk and status page. It is the only copy: the status page
renders from it directly, and the daemon sends both languages along with each result to the
kiosk (which imports nothing outside ``ui/``), so the two faces cannot say different things.

A placeholder names its param and how to show it: ``{free:size}``, ``{held:dur}``, ``{last:ago}``,
``{offset:offset}``, ``{percent:pct}``, ``{rate:ratio}``, ``{load:f2}``, ``{state:state}``,
``{name:key}``; without a spec the value is shown as it is (tool output and paths stay verbatim).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any, Final

LANGUAGES: Final = ("nl", "en")

# (summary, action) per code, per language. An item template (code + ".item") renders one entry
# of a result's ``items`` (e.g. one stuck slot); "{items}" in a summary is where they go.
_EN: dict[str, tuple[str, str]] = {
    "store.not_writable": ("The store disk ({path}) cannot be written: {error}.",
                           "Offloads fail until it is writable. Check the disk and its mount (read-only after "
                           "errors?) and call technical support."),
    "store.reserve": ("Only {free:size} free on the store disk, within the reserve of {reserve:size}: offloads are "
                      "paused.", "@store.space"),
    "store.ok": ("{free:size} free of {total:size} ({percent:pct}) on the store disk.", ""),
    "store.filling": ("Store disk is filling up: {free:size} free of {total:size} ({percent:pct}) on the store "
                      "disk.", "@store.space"),
    "@store.space": ("", "Check that the vault is reachable so stored footage can leave the dock. Do not delete "
                         "files by hand; call technical support if the disk stays full."),
    "backlog.unreadable": ("The upload backlog could not be read.", ""),
    "backlog.empty": ("Nothing is waiting for the vault.", ""),
    "backlog.waiting": ("{recordings} recording(s) ({bytes:size}) wait for the vault; the oldest for "
                        "{oldest:dur}.", ""),
    "backlog.behind": ("{recordings} recording(s) ({bytes:size}) wait for the vault; the oldest for {oldest:dur}.",
                       "See the vault check and the network to the vault. The footage stays safe on the dock "
                       "until the vault confirms it."),
    "vault.daemon_only": ("Vault contact is known only to the running daemon.", ""),
    "vault.idle": ("Nothing to deliver; last successful delivery {last:ago}.", ""),
    "vault.delivering": ("Delivering to the vault; last successful delivery {last:ago}.", ""),
    "vault.silent": ("No successful delivery to the vault ({target}) for {silent:dur}.{error:error}",
                     "@vault.fix"),
    "vault.alert": ("The station reports a vault problem: {message}. Last successful delivery {last:ago}.",
                    "@vault.fix"),
    "@vault.fix": ("", "Check the network connection and the vault server; the error says what failed. Footage "
                       "waits safely on the dock meanwhile."),
    "clock.unknown": ("Clock synchronisation state unknown: {reason}.",
                      "Make sure chrony or systemd-timesyncd runs on the dock."),
    "clock.no_service": ("No time synchronisation service is active{detail:paren}: the clock will drift.",
                         "Enable it (timedatectl set-ntp true, or start chrony). Check that the dock reaches the "
                         "municipality's time server (NTP, UDP port 123). Recordings and audit records carry the "
                         "dock's time."),
    "clock.not_synced": ("The clock is not synchronised{detail:paren}{offset:offset_tail}.", "@clock.fix"),
    "clock.off": ("The clock is off by {offset:offset}{detail:paren}.", "@clock.fix"),
    "clock.synced": ("Synchronised{detail:paren}{offset:offset_tail}.", ""),
    "@clock.fix": ("", "Check that the dock reaches the municipality's time server (NTP, UDP port 123). Recordings "
                       "and audit records carry the dock's time."),
    "cpu_temperature.no_sensor": ("No temperature sensor found; the temperature is unknown.", ""),
    "cpu_temperature.ok": ("CPU temperature {celsius:int} °C ({zone}).", ""),
    "cpu_temperature.hot": ("The dock is hot: CPU temperature {celsius:int} °C ({zone}).",
                            "Check the dock's ventilation: fans, dust filters, a closed cupboard, direct sun."),
    "load.unreadable": ("The load average could not be read.", ""),
    "load.ok": ("Load average {load5:f2} over 5 minutes on {cpus} CPU(s).", ""),
    "load.high": ("The dock is overloaded: load average {load5:f2} over 5 minutes on {cpus} CPU(s).",
                  "Offloads and uploads slow down. If it lasts, call technical support (check `top`)."),
    "memory.unreadable": ("Memory use could not be read.", ""),
    "memory.ok": ("{available:size} of {total:size} memory available ({percent:pct}).", ""),
    "memory.low": ("Memory is running out: {available:size} of {total:size} memory available ({percent:pct}).",
                   "Restart bodydock at a quiet moment (docked cameras resume where they were) and report it to "
                   "technical support."),
    "slots.ok": ("No slot is stuck ({working} working).", ""),
    "slots.ok_faults": ("No slot is stuck ({working} working; {fault} in fault, see the alerts).", ""),
    "slots.stuck": ("{items}", "Take the camera out and dock it again. If the slot stays stuck, mark it out of order "
                               "and call technical support."),
    "slots.not_charging": ("{items}", "The camera does not reach the minimum charge: check the slot's charging "
                                      "contacts, or replace the camera's battery."),
    "slots.stuck.item": ("Slot {label} is stuck in {state:state} for {held:dur} (limit {limit:dur}){notice:paren}.",
                         ""),
    "slots.not_charging.item": ("Slot {label} is stuck in {state:state} for {held:dur} (limit {limit:dur})"
                                "{notice:paren}.", ""),
    "adapters.ok": ("{faults} slot fault(s) in the last {window:dur}.", ""),
    "adapters.failing": ("{items}", "Read the fault reasons on the slots and in the audit log. If one camera model "
                                    "keeps failing, report it to its vendor or the adapter's maintainer."),
    "adapters.failing.item": ("Adapter {adapter}: {faults} slot fault(s) for {docked} docked camera(s) in the last "
                              "{window:dur} ({rate:ratio}).", ""),
    "battery.none": ("No docked camera reports its battery health.", ""),
    "battery.ok": ("{reporting} docked camera(s) report healthy batteries.", ""),
    "battery.worn": ("{items}", "Replace the battery (or the camera) of the camera(s) listed; a worn battery may not "
                                "last a shift."),
    "battery.worn.item": ("Camera {serial} in slot {label}: battery health {health}%.", ""),
    "keys.ok": ("{files} key file(s) present with safe permissions.", ""),
    "keys.problem": ("{items}", "Restore the file from the dock's key backup with mode 0600 (chmod 600 PATH). "
                                "Without the signing key the station cannot sign footage; without the vault key it "
                                "cannot deliver."),
    "keys.problem.item": ("The {name:key} ({path}): {problem}.", ""),
    "audit.not_checked": ("The audit log has not been checked yet.", ""),
    "audit.intact": ("Hash chain intact: all {entries} entries checked {checked:ago}.", ""),
    "audit.intact_since": ("Hash chain intact: {entries} entries checked {checked:ago}; {added} written since then "
                           "are checked at the next run ({total} in all).", ""),
    "audit.broken": ("The audit log's hash chain is broken: {problem}.",
                     "Do not edit, move or delete the audit log. Keep the dock running, and report it to the privacy "
                     "officer and technical support; `bodydock audit verify` shows the details."),
    "journal.not_checked": ("The journal has not been checked yet.", ""),
    "journal.ok": ("Journal database passes its integrity check.", ""),
    "journal.broken": ("The journal database failed its integrity check.",
                       "Do not dock more cameras; keep the files as they are and call technical support. The journal "
                       "decides what may be wiped from a camera."),
    "core.down": ("The station daemon is not running or cannot be reached.",
                  "Start it (systemctl start bodydock) and read its log (journalctl -u bodydock)."),
    "core.stalled": ("The station core has not responded for {age:dur}.",
                     "systemd restarts bodydock when its watchdog runs out. If this stays, restart it and call "
                     "technical support."),
    "core.running": ("The station core is running.", ""),
}

_NL: dict[str, tuple[str, str]] = {
    "store.not_writable": ("Er kan niet worden geschreven naar de opslagschijf ({path}): {error}.",
                           "Kopiëren mislukt tot de schijf weer beschrijfbaar is. Controleer de schijf en hoe die is "
                           "aangekoppeld (alleen-lezen na fouten?) en bel de technische dienst."),
    "store.reserve": ("Nog maar {free:size} vrij op de opslagschijf, binnen de reserve van {reserve:size}: kopiëren "
                      "is gepauzeerd.", "@store.space"),
    "store.ok": ("{free:size} vrij van {total:size} ({percent:pct}) op de opslagschijf.", ""),
    "store.filling": ("De opslagschijf raakt vol: {free:size} vrij van {total:size} ({percent:pct}).",
                      "@store.space"),
    "@store.space": ("", "Controleer of de kluis bereikbaar is, zodat opgeslagen opnamen het dock kunnen verlaten. "
                         "Verwijder geen bestanden met de hand; bel de technische dienst als de schijf vol blijft."),
    "backlog.unreadable": ("De wachtrij voor de kluis kon niet worden gelezen.", ""),
    "backlog.empty": ("Er wacht niets op de kluis.", ""),
    "backlog.waiting": ("{recordings} opname(n) ({bytes:size}) wachten op de kluis; de oudste al {oldest:dur}.", ""),
    "backlog.behind": ("{recordings} opname(n) ({bytes:size}) wachten op de kluis; de oudste al {oldest:dur}.",
                       "Zie de controle 'Kluiscontact' en het netwerk naar de kluis. De opnamen blijven veilig in het "
                       "dock tot de kluis ze bevestigt."),
    "vault.daemon_only": ("Alleen de draaiende dienst weet of de kluis bereikbaar is.", ""),
    "vault.idle": ("Niets te versturen; laatste geslaagde levering {last:ago}.", ""),
    "vault.delivering": ("Bezig met versturen naar de kluis; laatste geslaagde levering {last:ago}.", ""),
    "vault.silent": ("Al {silent:dur} geen geslaagde levering aan de kluis ({target}).{error:error}", "@vault.fix"),
    "vault.alert": ("Het station meldt een probleem met de kluis: {message}. Laatste geslaagde levering {last:ago}.",
                    "@vault.fix"),
    "@vault.fix": ("", "Controleer de netwerkverbinding en de kluisserver; de foutmelding zegt wat er misging. De "
                       "opnamen wachten intussen veilig in het dock."),
    "clock.unknown": ("Onbekend of de klok gelijkloopt: {reason}.",
                      "Zorg dat chrony of systemd-timesyncd draait op het dock."),
    "clock.no_service": ("Er draait geen tijdsynchronisatie{detail:paren}: de klok gaat afwijken.",
                         "Zet die aan (timedatectl set-ntp true, of start chrony). Controleer of het dock de "
                         "tijdserver van de gemeente bereikt (NTP, UDP-poort 123). Opnamen en auditregels krijgen de "
                         "tijd van het dock."),
    "clock.not_synced": ("De klok loopt niet gelijk{detail:paren}{offset:offset_tail}.", "@clock.fix"),
    "clock.off": ("De klok wijkt {offset:offset} af{detail:paren}.", "@clock.fix"),
    "clock.synced": ("Loopt gelijk{detail:paren}{offset:offset_tail}.", ""),
    "@clock.fix": ("", "Controleer of het dock de tijdserver van de gemeente bereikt (NTP, UDP-poort 123). Opnamen "
                       "en auditregels krijgen de tijd van het dock."),
    "cpu_temperature.no_sensor": ("Geen temperatuursensor gevonden; de temperatuur is onbekend.", ""),
    "cpu_temperature.ok": ("Processortemperatuur {celsius:int} °C ({zone}).", ""),
    "cpu_temperature.hot": ("Het dock is te warm: processortemperatuur {celsius:int} °C ({zone}).",
                            "Controleer de ventilatie van het dock: ventilatoren, stoffilters, een dichte kast, "
                            "direct zonlicht."),
    "load.unreadable": ("De belasting kon niet worden gelezen.", ""),
    "load.ok": ("Gemiddelde belasting {load5:f2} over 5 minuten op {cpus} processor(en).", ""),
    "load.high": ("Het dock is overbelast: gemiddelde belasting {load5:f2} over 5 minuten op {cpus} processor(en).",
                  "Kopiëren en versturen gaan langzamer. Als het aanhoudt, bel de technische dienst (kijk met "
                  "`top`)."),
    "memory.unreadable": ("Het geheugengebruik kon niet worden gelezen.", ""),
    "memory.ok": ("{available:size} van {total:size} geheugen beschikbaar ({percent:pct}).", ""),
    "memory.low": ("Het geheugen raakt op: {available:size} van {total:size} beschikbaar ({percent:pct}).",
                   "Herstart bodydock op een rustig moment (gedockte camera's gaan verder waar ze waren) en meld het "
                   "aan de technische dienst."),
    "slots.ok": ("Geen vak staat vast ({working} bezig).", ""),
    "slots.ok_faults": ("Geen vak staat vast ({working} bezig; {fault} met een storing, zie de meldingen).", ""),
    "slots.stuck": ("{items}", "Haal de camera eruit en zet hem opnieuw in het dock. Blijft het vak vastzitten, "
                               "meld het vak dan buiten gebruik en bel de technische dienst."),
    "slots.not_charging": ("{items}", "De camera laadt niet tot het minimum: controleer de laadcontacten van het vak, "
                                      "of vervang de accu van de camera."),
    "slots.stuck.item": ("Vak {label} staat al {held:dur} op '{state:state}' (grens {limit:dur}){notice:paren}.",
                         ""),
    "slots.not_charging.item": ("Vak {label} staat al {held:dur} op '{state:state}' (grens {limit:dur})"
                                "{notice:paren}.", ""),
    "adapters.ok": ("{faults} storing(en) in vakken in de afgelopen {window:dur}.", ""),
    "adapters.failing": ("{items}", "Lees de oorzaken bij de vakken en in de auditlog. Als één cameramodel steeds "
                                    "faalt, meld het aan de leverancier of de beheerder van de adapter."),
    "adapters.failing.item": ("Adapter {adapter}: {faults} storing(en) bij {docked} gedockte camera('s) in de "
                              "afgelopen {window:dur} ({rate:ratio}).", ""),
    "battery.none": ("Geen gedockte camera meldt de conditie van zijn accu.", ""),
    "battery.ok": ("{reporting} gedockte camera('s) melden een gezonde accu.", ""),
    "battery.worn": ("{items}", "Vervang de accu (of de camera) van de genoemde camera('s); een versleten accu houdt "
                                "het misschien geen dienst vol."),
    "battery.worn.item": ("Camera {serial} in vak {label}: accuconditie {health}%.", ""),
    "keys.ok": ("{files} sleutelbestand(en) aanwezig met veilige rechten.", ""),
    "keys.problem": ("{items}", "Zet het bestand terug uit de sleutelback-up van het dock met rechten 0600 (chmod 600 "
                                "PAD). Zonder ondertekeningssleutel kan het station geen opnamen ondertekenen; zonder "
                                "kluissleutel kan het niets afleveren."),
    "keys.problem.item": ("De {name:key} ({path}): {problem}.", ""),
    "audit.not_checked": ("De auditlog is nog niet gecontroleerd.", ""),
    "audit.intact": ("Hashketen intact: alle {entries} regels gecontroleerd {checked:ago}.", ""),
    "audit.intact_since": ("Hashketen intact: {entries} regels gecontroleerd {checked:ago}; de {added} regels van "
                           "daarna worden bij de volgende controle meegenomen ({total} in totaal).", ""),
    "audit.broken": ("De hashketen van de auditlog is verbroken: {problem}.",
                     "Wijzig, verplaats of verwijder de auditlog niet. Laat het dock aan staan en meld het aan de "
                     "privacyfunctionaris en de technische dienst; `bodydock audit verify` toont de details."),
    "journal.not_checked": ("Het journaal is nog niet gecontroleerd.", ""),
    "journal.ok": ("De journaaldatabase doorstaat de integriteitscontrole.", ""),
    "journal.broken": ("De journaaldatabase faalt bij de integriteitscontrole.",
                       "Dock geen camera's meer; laat de bestanden zoals ze zijn en bel de technische dienst. Het "
                       "journaal bepaalt wat er van een camera gewist mag worden."),
    "core.down": ("De stationsdienst draait niet of is niet bereikbaar.",
                  "Start hem (systemctl start bodydock) en lees zijn log (journalctl -u bodydock)."),
    "core.stalled": ("De kern van het station reageert al {age:dur} niet.",
                     "systemd herstart bodydock als de watchdog afloopt. Blijft dit zo, herstart hem dan en bel de "
                     "technische dienst."),
    "core.running": ("De kern van het station draait.", ""),
}

TITLES: dict[str, tuple[str, str]] = {  # check name -> (English, Dutch)
    "store": ("Store disk", "Opslagschijf"),
    "backlog": ("Upload backlog", "Wacht op de kluis"),
    "vault": ("Vault contact", "Kluiscontact"),
    "clock": ("Clock synchronisation", "Klok"),
    "cpu_temperature": ("CPU temperature", "Temperatuur"),
    "load": ("CPU load", "Processorbelasting"),
    "memory": ("Memory", "Geheugen"),
    "slots": ("Slots", "Vakken"),
    "adapters": ("Camera adapters", "Camera-adapters"),
    "battery": ("Camera batteries", "Camera-accu's"),
    "keys": ("Key files", "Sleutelbestanden"),
    "audit": ("Audit log", "Auditlog"),
    "journal": ("Journal", "Journaal"),
    "core": ("Station core", "Kernproces"),
}

_STATES_NL = {"empty": "leeg", "attached": "herkennen", "identified": "herkend", "offloading": "kopiëren",
              "verified": "kopie controleren", "wiping": "wissen", "charging": "opladen", "ready": "gereed",
              "assigned": "meenemen", "checked_out": "uitgegeven", "fault": "storing"}
_KEYS_NL = {"station signing key": "ondertekeningssleutel van het station",
            "vault SSH key": "SSH-sleutel voor de kluis", "status page secret": "geheim van de statuspagina"}
_TABLES = {"en": _EN, "nl": _NL}


def _decimal(text: str, lang: str) -> str:
    return text.replace(".", ",") if lang == "nl" else text


def size(n: float, lang: str = "en") -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else _decimal(f"{n:.1f} {unit}", lang)
        n /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float, lang: str = "en") -> str:
    s = max(0, round(seconds))
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    if s < 48 * 3600:
        hours, minutes = divmod(round(s / 60), 60)
        h = "u" if lang == "nl" else "h"
        return f"{hours} {h} {minutes} min" if minutes else f"{hours} {h}"
    return _decimal(f"{s / 86400:.1f}", lang) + (" dagen" if lang == "nl" else " days")


def offset(value: float, lang: str = "en") -> str:
    """A clock offset: milliseconds below a second, else seconds."""
    return _decimal(f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s", lang)


class _Formatter(string.Formatter):
    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def format_field(self, value: Any, spec: str) -> str:
        nl = self.lang == "nl"
        if spec == "size":
            return size(float(value), self.lang)
        if spec == "dur":
            return duration(float(value or 0.0), self.lang)
        if spec == "ago":
            if value is None:
                return "nooit sinds het opstarten" if nl else "never since start-up"
            return f"{duration(float(value), self.lang)} " + ("geleden" if nl else "ago")
        if spec == "offset":
            return offset(float(value or 0.0), self.lang)
        if spec == "offset_tail":
            return "" if value is None else ("; afwijking " if nl else "; offset ") + offset(float(value), self.lang)
        if spec == "pct":
            return f"{float(value):.0f}%"
        if spec == "ratio":
            return f"{float(value):.0%}"
        if spec == "f2":
            return _decimal(f"{float(value):.2f}", self.lang)
        if spec == "int":
            return f"{float(value):.0f}"
        if spec == "paren":
            return f" ({value})" if value else ""
        if spec == "error":
            return (f" Laatste fout: {value}." if nl else f" Last error: {value}.") if value else ""
        if spec == "state":
            return _STATES_NL.get(str(value), str(value)) if nl else str(value)
        if spec == "key":
            return _KEYS_NL.get(str(value), str(value)) if nl else str(value)
        return "?" if value is None else str(value)


def _template(code: str, lang: str, part: int) -> str:
    table = _TABLES.get(lang, _EN)
    text = (table.get(code) or _EN.get(code) or ("", ""))[part]
    if text.startswith("@"):  # shared with other codes
        return _template(text, lang, part)
    return text


def render(code: str, params: Mapping[str, Any], items: Sequence[Mapping[str, Any]] = (),
           lang: str = "en") -> tuple[str, str]:
    """(summary, action) of a result in ``lang`` ("en" for an unknown language)."""
    f = _Formatter(lang if lang in LANGUAGES else "en")
    item_t = _template(code + ".item", lang, 0)
    rendered = " ".join(f.vformat(item_t, (), dict(i)) for i in items) if item_t else ""
    values = {**params, "items": rendered}
    return f.vformat(_template(code, lang, 0), (), values), f.vformat(_template(code, lang, 1), (), values)


def title(name: str, lang: str = "en") -> str:
    en, nl = TITLES.get(name, (name, name))
    return nl if lang == "nl" else en


def state_word(state: str, lang: str = "en") -> str:
    """A slot state as a reader of ``lang`` says it."""
    return _STATES_NL.get(state, state) if lang == "nl" else state.replace("_", " ")


def codes() -> tuple[str, ...]:
    """Every result code (not the shared '@' parts or item templates)."""
    return tuple(c for c in _EN if not c.startswith("@") and not c.endswith(".item"))


def has_dutch(code: str) -> bool:
    return code in _NL
