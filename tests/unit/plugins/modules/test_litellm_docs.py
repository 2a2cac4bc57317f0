# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The litellm modules' documentation, as ansible-doc renders it (doc fragments merged), agrees with the
argument specs: one description of each shared option, no drift between litellm_key and litellm_keys."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.llmaas.platform.plugins.module_utils.litellm import (
    delivery_options,
    key_options,
    litellm_argument_spec,
    spend_options,
)

ROOT = Path(__file__).resolve().parents[4]
FIELDS = ("type", "choices", "default", "elements", "required")


@pytest.fixture(scope="module")
def docs():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    names = ["llmaas.platform.%s" % m for m in ("litellm_key", "litellm_keys", "litellm_team", "litellm_key_info")]
    proc = subprocess.run([str(Path(sys.executable).with_name("ansible-doc")), "--json", "-t", "module", *names],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=True)
    return {name.split(".")[-1]: doc["doc"] for name, doc in json.loads(proc.stdout).items()}


def same(doc_option, spec_option):
    for field in FIELDS:
        want = spec_option.get(field, False if field == "required" else None)
        have = doc_option.get(field, False if field == "required" else None)
        if field == "type" and want is None:
            want = "str"
        if field == "default" and isinstance(want, float) and isinstance(have, (int, float)):
            have = float(have)
        assert have == want, (field, have, want)


def test_litellm_key_options_match_the_spec(docs):
    spec = litellm_argument_spec(allowed_models=dict(type="list", elements="str"),
                                 validate_models=dict(type="bool", default=False),
                                 **dict(key_options(), **delivery_options()))
    options = docs["litellm_key"]["options"]
    assert sorted(options) == sorted(spec)
    for name, option in spec.items():
        same(options[name], option)
    for name, option in delivery_options()["delivery"]["options"].items():
        same(options["delivery"]["suboptions"][name], option)


def test_litellm_keys_entries_match_litellm_key(docs):
    """litellm_keys documents its entries inline (fragments cannot reach suboptions): they must not drift."""
    entries = docs["litellm_keys"]["options"]["keys"]["suboptions"]
    assert sorted(entries) == sorted(key_options())
    for name, option in key_options().items():
        same(entries[name], option)


def test_team_spend_options_come_from_the_fragment(docs):
    options = docs["litellm_team"]["options"]
    for name, option in spend_options().items():
        same(options[name], option)
    assert options["max_budget"]["description"] == docs["litellm_key"]["options"]["max_budget"]["description"]


def test_every_module_is_in_its_action_group(docs):
    for name, doc in docs.items():
        assert doc["attributes"]["action_group"]["membership"] == ["llmaas.platform.litellm"], name
