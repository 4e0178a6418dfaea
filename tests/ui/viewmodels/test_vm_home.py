"""Home view-model: tiles say state in words and shapes, show initials only while a camera waits,
and banners come from alerts and the connection."""

from __future__ import annotations

from ui.client.model import Alert, Progress, SlotInfo, Snapshot, StationInfo
from ui.i18n import Translator
from ui.viewmodels.home import HomeViewModel
from ui.viewmodels.look import Icon, Tone


def snap(*slots: SlotInfo, alerts: tuple[Alert, ...] = ()) -> Snapshot:
    return Snapshot(StationInfo(name="Stadswinkel"), slots, alerts)


def test_tiles_in_dutch_with_shape_word_and_progress() -> None:
    vm = HomeViewModel(Translator("nl"))
    vm.set_connected(True)
    vm.update(snap(
        SlotInfo(1, "1", "ready", battery=96),
        SlotInfo(2, "2", "offloading", battery=40, progress=Progress(1, 3, 250, 1000)),
        SlotInfo(3, "3", "assigned", battery=90, wearer_initials="A.d.V."),
        SlotInfo(4, "4", "fault"),
        SlotInfo(5, "5", "checked_out", wearer_initials="M.B."),
        SlotInfo(6, "6", "offloading", progress=Progress(0, 2, 0, 10), notice="storage_full"),
    ))
    t = {tile.slot_id: tile for tile in vm.state.tiles}
    assert (t[1].label, t[1].status, t[1].icon, t[1].tone, t[1].battery) == ("Vak 1", "Gereed", Icon.CHECK, Tone.OK,
                                                                             "96%")
    assert (t[2].status, t[2].progress, t[2].progress_text, t[2].icon) == ("Kopiëren", 0.25, "25%", Icon.ARROW)
    assert (t[3].status, t[3].initials) == ("Meenemen", "A.d.V.")
    assert (t[4].status, t[4].icon, t[4].tone) == ("Storing", Icon.WARNING, Tone.FAULT)
    assert t[5].initials is None  # who has a camera out is not shown in the hallway
    assert (t[6].status, t[6].tone) == ("Wacht: opslag vol", Tone.WARN)
    # Every tone comes with a different shape or word: never the colour alone.
    assert len({(x.icon, x.status) for x in t.values()}) == len(t)
    assert vm.state.title == "Stadswinkel" and vm.state.can_checkout


def test_banners_from_alerts_worst_first_and_connection() -> None:
    vm = HomeViewModel(Translator("nl"))
    assert vm.state.banners[0].text.startswith("Geen verbinding met het dock")
    assert not vm.state.can_checkout
    vm.set_connected(True)
    vm.update(snap(alerts=(
        Alert(1, "vault_offline", "warn", "vault unreachable for 2 h"),
        Alert(2, "slot_fault", "critical", "slot 4: wipe failed", slot_id=4),
        Alert(3, "storage_low", "warn", "disk", acknowledged=True),
    )))
    assert [(b.severity, b.text) for b in vm.state.banners] == [
        ("Storing", "vak 4 – een beheerder is gewaarschuwd, laat de camera in het dock"),
        ("Let op", "Kluis onbereikbaar: opnamen blijven veilig in het dock")]
    # Shown as "<severity>: <text>": no banner says its severity twice ("Storing: Storing in vak 4").
    for lang in ("nl", "en"):
        vm.set_translator(Translator(lang))
        assert all(b.severity.lower() not in b.text.lower() for b in vm.state.banners), lang


def test_battery_shape_follows_the_charge() -> None:
    vm = HomeViewModel(Translator("nl"))
    vm.set_connected(True)
    vm.update(snap(SlotInfo(1, "1", "ready", battery=96), SlotInfo(2, "2", "charging", battery=37),
                   SlotInfo(3, "3", "charging", battery=4)))
    assert [t.battery_icon for t in vm.state.tiles] == ["battery-4", "battery-2", "battery-1"]


def test_language_switch_redraws() -> None:
    vm = HomeViewModel(Translator("nl"))
    vm.set_connected(True)
    vm.update(snap(SlotInfo(1, "1", "charging", battery=31)))
    seen: list[str] = []
    vm.subscribe(lambda: seen.append(vm.state.tiles[0].status))
    vm.set_translator(Translator("en"))
    assert seen == ["Charging"] and vm.state.tiles[0].label == "Slot 1"
    vm.update(snap(SlotInfo(1, "1", "charging", battery=31)))
    assert seen == ["Charging"]  # nothing changed: no redraw


def test_the_dock_key_fingerprint_shows_until_the_vault_took_something() -> None:
    vm = HomeViewModel(Translator("nl"))
    vm.set_connected(True)
    fp = "6777 c6b8 fd40 1e7a 1a1a fcf1 aea9 49e9"
    vm.update(Snapshot(StationInfo(name="Stadswinkel", key_fingerprint=fp, vault_received=False), (), ()))
    assert [(b.severity, b.text, b.icon) for b in vm.state.banners] == [
        ("Let op", f"Dock-sleutel voor de kluis: {fp}", Icon.LOCK)]
    vm.set_translator(Translator("en"))
    assert vm.state.banners[0].text == f"Dock key for the vault: {fp}"
    vm.update(Snapshot(StationInfo(name="Stadswinkel", key_fingerprint=fp, vault_received=True), (), ()))
    assert vm.state.banners == ()
