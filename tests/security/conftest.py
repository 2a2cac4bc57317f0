"""Reuse the session render of both inventories (tests/render/conftest.py) for the security scans."""

from render.conftest import rendered  # noqa: F401  (pytest fixture)
