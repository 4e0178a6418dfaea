"""Tools around the kiosk: a virtual display, a touch driver, screenshots."""
