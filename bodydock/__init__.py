"""The wiring: builds a station from its config, runs the daemon (control socket, sd_notify, watchdog,
local API), the CLI and the demo.
"""
