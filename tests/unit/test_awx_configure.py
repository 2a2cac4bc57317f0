# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/awx_configure.yml: the AWX objects it would create, checked against the repository.

The playbook runs with awx_plan_only=true (computes every job template and survey, contacts no controller) and
the plan is checked: playbooks exist, every survey variable is one the playbooks/roles really read, choices equal
the preflight contract's choices, feature answers map onto llmaas_features, and no secret value is present.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.llmaas.platform.plugins.plugin_utils import contract

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "awx_configure.yml"
AWX_VARS = ROOT / "playbooks" / "vars" / "awx.yml"


class _Loader(yaml.SafeLoader):
    """Reads Ansible YAML: !unsafe values are plain strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _load(path):
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def _spec_options():
    """Every option of every role argument spec, by name, plus the preflight options (shared inventory vars)."""
    options = {}
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        for entry in (yaml.safe_load(spec_file.read_text()) or {}).get("argument_specs", {}).values():
            for name, option in (entry.get("options") or {}).items():
                options.setdefault(name, option)
    return options


def _play_vars(playbook):
    names = set()
    for play in yaml.load(playbook.read_text(), Loader=_Loader) or []:
        names.update((play.get("vars") or {}).keys())
    return names


PREFLIGHT = yaml.safe_load((ROOT / "roles/preflight/meta/argument_specs.yml").read_text())
PREFLIGHT_OPTIONS = PREFLIGHT["argument_specs"]["inventory"]["options"]
FEATURES = PREFLIGHT_OPTIONS["llmaas_features"]["options"]


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("awx") / "plan.json"
    playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    cmd = [str(playbook_bin) if playbook_bin.exists() else "ansible-playbook", str(PLAYBOOK),
           "-e", "awx_plan_only=true", "-e", f"awx_plan_file={out}"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return json.loads(out.read_text())


def test_syntax_check():
    playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    result = subprocess.run([str(playbook_bin), "--syntax-check", str(PLAYBOOK)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_every_inventory_gets_site_tenants_teardown_benchmark(plan):
    names = {t["name"] for t in plan["job_templates"]}
    for inv in ("gke_l4", "vast"):
        for key in ("site", "tenants", "teardown", "benchmark"):
            assert f"llmaas {inv} {key}" in names
    sources = {i["source_path"] for i in plan["inventories"]}
    assert sources == {"inventories/gke_l4/hosts.yml", "inventories/vast/hosts.yml"}
    for source in sources:
        assert (ROOT / source).is_file(), source


@pytest.mark.parametrize("key", ["site", "tenants", "teardown", "benchmark"])
def test_job_template_playbooks_exist(plan, key):
    for template in plan["job_templates"]:
        if template["name"].endswith(f" {key}"):
            assert template["playbook"].startswith("playbooks/")
            assert (ROOT / template["playbook"]).is_file(), f"{template['name']}: {template['playbook']} is missing"


def test_survey_variables_are_read_by_the_playbooks_or_roles(plan):
    options = _spec_options()
    for template in plan["job_templates"]:
        playbook = ROOT / template["playbook"]
        play_vars = _play_vars(playbook) if playbook.is_file() else set()
        for question in template["survey_spec"]["spec"]:
            var = question["variable"]
            if var.startswith("awx_feature_"):
                flag = var[len("awx_feature_"):]
                assert flag in FEATURES, f"{template['name']}: {var} maps to no llmaas_features switch"
                expr = template["extra_vars"]["llmaas_features"][flag]
                assert expr == "{{ %s == 'yes' }}" % var, expr
                assert question["choices"] == ["yes", "no"] and question["default"] in ("yes", "no")
            elif var.startswith("llmaas_") and (var in PREFLIGHT_OPTIONS or var in contract.TEARDOWN):
                pass  # the contract reads these (teardown's switches are typed there: plugin_utils/contract.py)
            else:
                assert var in options or var in play_vars, (
                    f"{template['name']}: survey variable {var} is neither a role option (meta/argument_specs.yml) "
                    f"nor a variable of {template['playbook']}")


def test_feature_survey_covers_every_switch(plan):
    for template in plan["job_templates"]:
        features = template["extra_vars"].get("llmaas_features")
        if features is None:
            continue
        # extra_vars replace the whole dict: every switch must be asked, or the inventory's value would be lost.
        assert set(features) == set(FEATURES), set(FEATURES) ^ set(features)


def test_choices_match_the_preflight_contract(plan):
    checked = 0
    for template in plan["job_templates"]:
        for question in template["survey_spec"]["spec"]:
            option = PREFLIGHT_OPTIONS.get(question["variable"])
            if option and "choices" in option:
                assert question["type"] == "multiplechoice"
                assert sorted(question["choices"]) == sorted(option["choices"]), question["variable"]
                assert question["default"] in option["choices"]
                checked += 1
    assert checked >= 4, "profile and delivery questions expected on both site templates"


def test_survey_defaults_follow_the_inventories(plan):
    for template in plan["job_templates"]:
        if not template["name"].endswith(" site"):
            continue
        inv = template["name"].split()[1]
        inventory = yaml.safe_load((ROOT / f"inventories/{inv}/group_vars/all/platform.yml").read_text())
        answers = {q["variable"]: q["default"] for q in template["survey_spec"]["spec"]}
        assert answers["llmaas_profile"] == inventory["llmaas_profile"]
        for flag, value in inventory["llmaas_features"].items():
            assert answers[f"awx_feature_{flag}"] == ("yes" if value else "no"), flag


def test_no_secret_values_anywhere():
    data = _load(AWX_VARS)
    for ctype in data["awx_credential_types"].values():
        secret_ids = {f["id"] for f in ctype["inputs"]["fields"] if f.get("secret")}
        assert secret_ids, f"{ctype['name']}: no secret field"
        for value in (ctype["injectors"].get("env") or {}).values():
            assert value.startswith("{{") or value == "serviceaccount", f"literal value in injector: {value}"
    text = PLAYBOOK.read_text() + AWX_VARS.read_text()
    for pattern in (r"sk-[A-Za-z0-9]{8,}", r"-----BEGIN", r"\"private_key\"", r"password:\s*\S+", r"inputs:\s*\{\S"):
        assert not re.search(pattern, text), pattern
    playbook = _load(PLAYBOOK)
    for task in playbook[0]["tasks"]:
        if "awx.awx.credential" in task:
            args = task["awx.awx.credential"]
            assert "inputs" not in args and args.get("update_secrets") is False


def test_controller_auth_only_from_the_environment():
    playbook = _load(PLAYBOOK)
    for task in playbook[0]["tasks"]:
        for module, args in task.items():
            if module.startswith("awx.awx.") and isinstance(args, dict):
                for key in ("controller_host", "controller_username", "controller_password", "controller_oauthtoken"):
                    assert key not in args, f"{task['name']}: {key} set in the playbook"
