"""Screen logic as plain Python: each view-model holds a frozen state the screen renders, takes
the user's intents, and talks to the station only through ``ui.client.service.KioskService``."""
