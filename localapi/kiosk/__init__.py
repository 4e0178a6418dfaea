"""The kiosk's routes on the local API: snapshots, sessions, check-out, check-in and tagging requests,
event streams.
"""
