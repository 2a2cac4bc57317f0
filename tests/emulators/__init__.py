"""Emulators of external APIs the unit tests run against (no network, no accounts)."""
