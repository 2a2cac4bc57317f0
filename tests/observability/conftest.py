"""Share the rendered trees of tests/render and find promtool (Debian package `prometheus`)."""

import os
import shutil

import pytest

from render.conftest import rendered  # noqa: F401  (session fixture: both inventories rendered once)


@pytest.fixture(scope="session")
def promtool():
    """Path of promtool: $LLMAAS_PROMTOOL, else `promtool` on PATH. Missing is a failure, never a skip."""
    candidate = os.environ.get("LLMAAS_PROMTOOL", "promtool")
    path = shutil.which(candidate)
    if not path:
        pytest.fail(
            f"promtool not found (LLMAAS_PROMTOOL={os.environ.get('LLMAAS_PROMTOOL')!r}); install Debian's "
            "`prometheus` package (apt-get install -y prometheus) or point LLMAAS_PROMTOOL at a promtool binary",
            pytrace=False,
        )
    return path
