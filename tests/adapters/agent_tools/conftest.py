"""The embedded deployment and the simulators' fixtures, for the end-to-end tests here."""

from tests.e2e.embedded.conftest import embedded, telegram

__all__ = ["embedded", "telegram"]
