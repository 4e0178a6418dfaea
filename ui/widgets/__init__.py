"""Kivy widgets of the kiosk (importing this package imports Kivy)."""
