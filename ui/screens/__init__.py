"""The kiosk's screens (Kivy). Each renders one view-model's state and forwards touches to it."""
