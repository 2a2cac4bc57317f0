"""Shared fixtures: one LiteLLM management-API EMULATOR per test module, reset before each test."""

import pytest
from emulators.litellm_api import LiteLLMEmulator


@pytest.fixture(scope="module")
def emu():
    with LiteLLMEmulator() as server:
        yield server


@pytest.fixture
def base(emu):
    """Connection options for a module under test, against a freshly reset emulator."""
    emu.reset()
    return dict(api_url=emu.url, master_key=emu.master_key, retry_backoff=0.001, timeout=5)
