"""The kiosk: a Kivy touchscreen app in its own (unprivileged) process, a client of the
station daemon's local API. Everything below ``ui.client`` and ``ui.viewmodels`` is plain Python
(no Kivy); only ``ui.app``, ``ui.widgets`` and ``ui.screens`` import Kivy."""
