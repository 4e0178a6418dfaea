"""A private Xvfb for the kiosk demo (the same fixture the kiosk tests use)."""

from tests.ui.conftest import xdisplay

__all__ = ["xdisplay"]
