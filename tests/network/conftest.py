"""Reuse the session render of both inventories (tests/render/conftest.py) for the connectivity analysis."""

from render.conftest import rendered  # noqa: F401  (pytest fixture)
