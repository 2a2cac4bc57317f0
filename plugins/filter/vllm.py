# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the vLLM engine argument list from a typed llmaas_models entry.

The list is passed as container ``args`` to the vllm/vllm-openai image, whose entrypoint is ``vllm serve``,
so the first element is the model (positional) and the rest are engine flags in a fixed order. Keeping
this in Python (not Jinja string pasting) lets the rules be unit-tested and the output stay byte-stable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import integer_types, string_types

DOCUMENTATION = r"""
name: vllm_args
short_description: vLLM engine arguments for one llmaas_models entry
description:
  - Returns the argument list for C(vllm serve) (the entrypoint of the vllm/vllm-openai image).
  - Order is fixed; the same input always gives the same list.
  - The agent tier adds C(--enable-auto-tool-choice --tool-call-parser <parser>).
  - C(extra_args) is a mapping of engine argument names to values; C(true) renders C(--flag), C(false) renders
    C(--no-flag) (vLLM boolean options accept that form), lists render C(--flag v1 v2), mappings render as JSON.
  - Wrong types are rejected with a message naming the model and the field.
options:
  _input:
    description: One entry of llmaas_models.
    type: dict
    required: true
  port:
    description: Port the OpenAI-compatible server listens on.
    type: int
    default: 8000
  model_path:
    description: Load the weights from this path instead of the model repository id (I(model)).
    type: str
"""

EXAMPLES = r"""
args: "{{ llmaas_models[0] | llmaas.platform.vllm_args(port=8000) }}"
"""

RETURN = r"""
_value:
  description: Arguments for vllm serve, model first.
  type: list
  elements: str
"""

# Flags the filter owns; extra_args may not set them a second time (vLLM would take the last one silently).
MANAGED_FLAGS = frozenset([
    "model", "served-model-name", "port", "host", "tensor-parallel-size", "max-model-len",
    "gpu-memory-utilization", "enable-auto-tool-choice", "tool-call-parser", "chat-template",
])
_FLAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _where(model):
    name = model.get("name") if isinstance(model, dict) else None
    return "llmaas_models[%r]" % (name,) if name else "llmaas_models entry"


def _require_str(model, field, required=True):
    value = model.get(field)
    if value is None:
        if required:
            raise AnsibleFilterError("%s: %s is required" % (_where(model), field))
        return None
    if not isinstance(value, string_types) or not value.strip():
        raise AnsibleFilterError("%s: %s must be a non-empty string, got %s %r"
                                 % (_where(model), field, type(value).__name__, value))
    return value


def _require_int(model, field, default, minimum=1):
    value = model.get(field, default)
    if isinstance(value, bool) or not isinstance(value, integer_types):
        raise AnsibleFilterError("%s: %s must be an integer, got %s %r"
                                 % (_where(model), field, type(value).__name__, value))
    if value < minimum:
        raise AnsibleFilterError("%s: %s must be >= %d, got %d" % (_where(model), field, minimum, value))
    return value


def _require_fraction(model, field, default):
    value = model.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (float,) + integer_types):
        raise AnsibleFilterError("%s: %s must be a number in (0, 1], got %s %r"
                                 % (_where(model), field, type(value).__name__, value))
    if not 0 < value <= 1:
        raise AnsibleFilterError("%s: %s must be in (0, 1], got %r" % (_where(model), field, value))
    return value


def _number(value):
    if isinstance(value, float):
        return repr(value)
    return "%d" % value


def _flag_values(model, flag, value):
    """One extra argument as a list of strings."""
    if value is None:
        raise AnsibleFilterError("%s: extra_args.%s has no value (use true for a switch)" % (_where(model), flag))
    if isinstance(value, bool):
        return ["--%s" % flag] if value else ["--no-%s" % flag]
    if isinstance(value, (float,) + integer_types):
        return ["--%s" % flag, _number(value)]
    if isinstance(value, string_types):
        return ["--%s" % flag, value]
    if isinstance(value, dict):
        return ["--%s" % flag, json.dumps(value, sort_keys=True, separators=(",", ":"))]
    if isinstance(value, (list, tuple)):
        if not value:
            raise AnsibleFilterError("%s: extra_args.%s is an empty list" % (_where(model), flag))
        items = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, string_types + (float,) + integer_types):
                raise AnsibleFilterError("%s: extra_args.%s items must be strings or numbers, got %s %r"
                                         % (_where(model), flag, type(item).__name__, item))
            items.append(item if isinstance(item, string_types) else _number(item))
        return ["--%s" % flag] + items
    raise AnsibleFilterError("%s: extra_args.%s has unsupported type %s (use string, number, bool, list or mapping)"
                             % (_where(model), flag, type(value).__name__))


def vllm_args(model, port=8000, model_path=None):
    """Argument list for ``vllm serve`` from one llmaas_models entry (see DOCUMENTATION)."""
    if not isinstance(model, dict):
        raise AnsibleFilterError("vllm_args expects one llmaas_models entry (a mapping), got %s"
                                 % type(model).__name__)
    name = _require_str(model, "name")
    repo = _require_str(model, "model")
    served = _require_str(model, "served_name", required=False) or name
    if isinstance(port, bool) or not isinstance(port, integer_types) or not 0 < port < 65536:
        raise AnsibleFilterError("%s: port must be an integer between 1 and 65535, got %r" % (_where(model), port))
    gpus = _require_int(model, "gpus", None)
    tensor_parallel = _require_int(model, "tensor_parallel_size", 1)
    if tensor_parallel > gpus:
        raise AnsibleFilterError("%s: tensor_parallel_size (%d) must not exceed gpus (%d)"
                                 % (_where(model), tensor_parallel, gpus))
    max_len = _require_int(model, "max_model_len", 8192, minimum=16)
    memory = _require_fraction(model, "gpu_memory_utilization", 0.9)
    tiers = model.get("tiers") or []
    if not isinstance(tiers, (list, tuple)) or not all(isinstance(t, string_types) for t in tiers):
        raise AnsibleFilterError("%s: tiers must be a list of strings, got %r" % (_where(model), tiers))
    extra = model.get("extra_args") or {}
    if not isinstance(extra, dict):
        raise AnsibleFilterError("%s: extra_args must be a mapping of engine argument to value, got %s"
                                 % (_where(model), type(extra).__name__))

    args = [model_path or repo, "--served-model-name", served, "--port", "%d" % port,
            "--tensor-parallel-size", "%d" % tensor_parallel, "--max-model-len", "%d" % max_len,
            "--gpu-memory-utilization", _number(memory)]
    if "agent" in tiers:
        parser = _require_str(model, "tool_call_parser", required=False)
        if not parser:
            raise AnsibleFilterError("%s: the agent tier needs tool_call_parser" % _where(model))
        args += ["--enable-auto-tool-choice", "--tool-call-parser", parser]
    template = _require_str(model, "chat_template", required=False)
    if template:
        args += ["--chat-template", template]

    for key in sorted(extra):
        if not isinstance(key, string_types):
            raise AnsibleFilterError("%s: extra_args keys must be strings, got %r" % (_where(model), key))
        flag = key.strip().lstrip("-").replace("_", "-")
        if not _FLAG_RE.match(flag):
            raise AnsibleFilterError("%s: extra_args key %r is not a valid engine argument name" % (_where(model), key))
        if flag in MANAGED_FLAGS or flag.startswith("no-") and flag[3:] in MANAGED_FLAGS:
            raise AnsibleFilterError("%s: extra_args.%s is set from the model's own fields; set it there instead"
                                     % (_where(model), key))
        args += _flag_values(model, flag, extra[key])
    return args


class FilterModule:
    def filters(self):
        return {"vllm_args": vllm_args}
