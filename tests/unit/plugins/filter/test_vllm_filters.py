"""Unit tests for the vllm_args filter: argument order, tiers, extra_args rendering and type errors."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.filter.vllm import FilterModule, vllm_args


def model(**overrides):
    base = {
        "name": "qwen-coder",
        "model": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
        "served_name": "qwen2.5-coder-1.5b-instruct",
        "tiers": ["chat", "fim"],
        "gpus": 1,
        "tensor_parallel_size": 1,
        "max_model_len": 16384,
        "gpu_memory_utilization": 0.9,
    }
    base.update(overrides)
    return base


def test_registered():
    assert FilterModule().filters()["vllm_args"] is vllm_args


def test_base_order_model_first():
    assert vllm_args(model()) == [
        "Qwen/Qwen2.5-Coder-1.5B-Instruct",
        "--served-model-name", "qwen2.5-coder-1.5b-instruct",
        "--port", "8000",
        "--tensor-parallel-size", "1",
        "--max-model-len", "16384",
        "--gpu-memory-utilization", "0.9",
    ]


def test_defaults_when_optional_fields_missing():
    args = vllm_args({"name": "m", "model": "org/m", "gpus": 2, "tiers": ["chat"]}, port=8080)
    assert args == ["org/m", "--served-model-name", "m", "--port", "8080", "--tensor-parallel-size", "1",
                    "--max-model-len", "8192", "--gpu-memory-utilization", "0.9"]


def test_agent_tier_adds_tool_calling():
    args = vllm_args(model(tiers=["chat", "agent"], tool_call_parser="hermes"))
    i = args.index("--enable-auto-tool-choice")
    assert args[i + 1:i + 3] == ["--tool-call-parser", "hermes"]


def test_fim_tier_adds_no_suffix_flag():
    args = vllm_args(model(tiers=["fim"], fim={"prefix": "<p>", "suffix": "<s>", "middle": "<m>"}))
    assert not any("suffix" in a or "fim" in a for a in args)
    assert "--enable-auto-tool-choice" not in args


def test_agent_without_parser_is_rejected():
    with pytest.raises(AnsibleFilterError, match="agent tier needs tool_call_parser"):
        vllm_args(model(tiers=["agent"]))


def test_chat_template_and_model_path():
    args = vllm_args(model(chat_template="/templates/chat.jinja"), model_path="/models/qwen")
    assert args[0] == "/models/qwen"
    assert args[-2:] == ["--chat-template", "/templates/chat.jinja"]


def test_extra_args_sorted_and_typed():
    extra = {
        "max_num_seqs": 64,
        "enable_prefix_caching": True,
        "enforce-eager": False,
        "speculative_config": {"num_speculative_tokens": 3, "method": "ngram"},
        "allowed-origins": ["a", "b"],
        "kv_cache_dtype": "fp8",
        "swap_space": 0.5,
    }
    args = vllm_args(model(extra_args=extra))
    tail = args[args.index("--gpu-memory-utilization") + 2:]
    assert tail == [
        "--allowed-origins", "a", "b",
        "--enable-prefix-caching",
        "--no-enforce-eager",
        "--kv-cache-dtype", "fp8",
        "--max-num-seqs", "64",
        "--speculative-config", '{"method":"ngram","num_speculative_tokens":3}',
        "--swap-space", "0.5",
    ]


def test_deterministic():
    m = model(extra_args={"b": 1, "a": 2, "c": True})
    assert vllm_args(m) == vllm_args(dict(reversed(list(m.items()))))


@pytest.mark.parametrize("bad, message", [
    ("not a dict", "expects one llmaas_models entry"),
    (model(gpus="1"), "gpus must be an integer"),
    (model(gpus=True), "gpus must be an integer"),
    (model(gpus=0), "gpus must be >= 1"),
    (model(tensor_parallel_size=2), "tensor_parallel_size \\(2\\) must not exceed gpus \\(1\\)"),
    (model(max_model_len="16k"), "max_model_len must be an integer"),
    (model(gpu_memory_utilization=1.5), "gpu_memory_utilization must be in"),
    (model(gpu_memory_utilization="0.9"), "gpu_memory_utilization must be a number"),
    ({k: v for k, v in model().items() if k != "name"}, "name is required"),
    (model(model=""), "model must be a non-empty string"),
    (model(tiers="chat"), "tiers must be a list"),
    (model(extra_args=["--foo"]), "extra_args must be a mapping"),
    (model(extra_args={"port": 9000}), "extra_args.port is set from the model's own fields"),
    (model(extra_args={"no_enable_auto_tool_choice": True}), "set from the model's own fields"),
    (model(extra_args={"foo bar": 1}), "not a valid engine argument name"),
    (model(extra_args={"foo": None}), "extra_args.foo has no value"),
    (model(extra_args={"foo": []}), "empty list"),
    (model(extra_args={"foo": [{"a": 1}]}), "items must be strings or numbers"),
    (model(extra_args={"foo": object()}), "unsupported type object"),
])
def test_rejects_bad_input(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        vllm_args(bad)


def test_rejects_bad_port():
    with pytest.raises(AnsibleFilterError, match="port must be an integer"):
        vllm_args(model(), port="8000")


def test_error_names_the_model():
    with pytest.raises(AnsibleFilterError, match="llmaas_models\\['qwen-coder'\\]"):
        vllm_args(model(gpus=0))
