"""Fixtures shared with the health tests (the status API serves their stations)."""

from tests.health.conftest import running  # noqa: F401 - a fixture, used by name
