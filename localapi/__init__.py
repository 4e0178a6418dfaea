"""The daemon's local HTTP API: status, alerts and the kiosk's routes on the Unix socket, and the LAN
status page behind auth.
"""
