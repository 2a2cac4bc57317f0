"""The CPU model server itself (issue 14): its llama.cpp is built without AVX-512 and AMX code, so it runs on a
machine whose CPUID advertises instructions it cannot execute, and a server that dies fails the fixture with its
own log instead of a bare 500 from LiteLLM."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Server, free_port, model_server_cmd, require_model_python, stop, wait_http

pytestmark = pytest.mark.e2e

# In objdump's AT&T syntax: AVX-512 registers (zmm, opmasks k1-k7, xmm/ymm16-31) and AMX tile instructions.
AVX512_OR_AMX = re.compile(r"%zmm|%k[1-7]\b|%[xy]mm(?:1[6-9]|2\d|3[01])\b|\btile(?:loadd|stored|zero|release|cfg)"
                           r"|\btdpb")


def test_the_cpu_backend_carries_no_avx512_or_amx_code():
    """libggml-cpu is the one library llama.cpp compiles with instruction-set flags (ggml/src/ggml-cpu/CMakeLists.txt
    ARCH_FLAGS); the others are built for plain x86-64."""
    locate = "import importlib.util as u; print(u.find_spec('llama_cpp').submodule_search_locations[0])"
    package = subprocess.run([require_model_python(), "-c", locate], capture_output=True, text=True, check=True)
    lib = Path(package.stdout.strip()) / "lib" / "libggml-cpu.so"
    disassembly = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True,
                                 check=True).stdout
    assert "vfmadd" in disassembly, "no AVX2/FMA code either: is this the CPU backend?"
    hits = AVX512_OR_AMX.findall(disassembly)
    assert not hits, f"{lib}: {len(hits)} AVX-512/AMX operands, e.g. {sorted(set(hits))[:5]}"


def test_a_model_server_that_dies_fails_with_its_own_log(tmp_path):
    missing = tmp_path / "no-such-model.gguf"
    port = free_port()
    server = Server("model server", model_server_cmd(missing, port, "m"), tmp_path / "server.log")
    try:
        with pytest.raises(RuntimeError) as caught:
            wait_http(f"http://127.0.0.1:{port}/v1/models", server, timeout=60)
    finally:
        stop(server)
    message = str(caught.value)
    assert message.startswith("model server died before") and "exited with 1" in message, message
    assert str(missing) in message.split("\n", 1)[1], message  # the path is named only by the server's own log


def test_a_native_crash_is_reported_with_its_signal_and_python_stack(tmp_path):
    crash = [sys.executable, "-X", "faulthandler", "-c", "import ctypes; ctypes.string_at(0)"]
    server = Server("crasher", crash, tmp_path / "crash.log")
    try:
        with pytest.raises(RuntimeError) as caught:
            wait_http(f"http://127.0.0.1:{free_port()}/", server, timeout=30)
    finally:
        stop(server)
    message = str(caught.value)
    assert "(killed by SIGSEGV)" in message and "Fatal Python error: Segmentation fault" in message, message
