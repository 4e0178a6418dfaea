"""Dock health: checks with thresholds, alerts, the status API and page, Prometheus metrics.

An edge like ``upload/``: it imports the station core, never the other way round. The daemon
starts it (``localapi.service.start_health``); the HTTP side is an app factory,
``localapi.web.create_app``, served on the local API socket and optionally on the LAN.
"""
