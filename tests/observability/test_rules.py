"""Real promtool over the rendered observability layer of both inventories (T4).

- `promtool check rules` on every rendered PrometheusRule;
- `promtool test rules`: each rendered alert fires on a burning series and stays silent on a healthy one
  (scenarios in rules_tests/scenarios.yml, test files generated for the rule names actually rendered);
- every PromQL expression of every rule and dashboard parses (each wrapped in a throwaway recording rule);
- every metric any expression names is in metrics_catalogue.yml (recording-rule outputs count as known), and the
  LiteLLM entries exist in the installed litellm package.
"""

import contextlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from observability.promql import grafana_to_promql, metric_names

HERE = Path(__file__).parent
INVENTORIES = ("gke_l4", "vast")
SCENARIOS = yaml.safe_load((HERE / "rules_tests" / "scenarios.yml").read_text())
CATALOGUE = yaml.safe_load((HERE / "metrics_catalogue.yml").read_text())
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _rules(tree):
    rules = tree.objects(kind="PrometheusRule", layer="observability")
    assert rules, "the observability layer rendered no PrometheusRule"
    return rules


def _groups(tree):
    return [group for rule in _rules(tree) for group in rule["spec"]["groups"]]


def _dashboards(tree):
    boards = {}
    for cm in tree.objects(kind="ConfigMap", layer="observability"):
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            for key, text in cm["data"].items():
                boards[key] = json.loads(text)
    assert boards, "the observability layer rendered no dashboard ConfigMap"
    return boards


def _dashboard_exprs(board):
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    return [grafana_to_promql(e) for e in exprs]


def _promtool(promtool, *args, cwd):
    proc = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _write(path, data):
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=1000))
    return path


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_promtool_check_rules(rendered, promtool, tmp_path, inventory):
    files = []
    for rule in _rules(rendered[inventory]):
        files.append(_write(tmp_path / f"{rule['metadata']['name']}.yml", {"groups": rule["spec"]["groups"]}))
    code, out = _promtool(promtool, "check", "rules", *map(str, files), cwd=tmp_path)
    assert code == 0, out
    assert "SUCCESS" in out


def _expected_annotations(annotations, labels):
    """The alert's annotations as Prometheus expands them; our templates only use {{ $labels.<name> }}."""
    out = {}
    for key, text in annotations.items():
        leftover = re.sub(r"\{\{ \$labels\.([A-Za-z_][A-Za-z0-9_]*) \}\}", "", text)
        assert "{{" not in leftover, f"annotation {key!r} uses a template the test cannot expand: {text!r}"
        out[key] = re.sub(r"\{\{ \$labels\.([A-Za-z_][A-Za-z0-9_]*) \}\}", lambda m: labels.get(m.group(1), ""), text)
    return out


def _unit_tests(groups):
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    missing = sorted({a["alert"] for a in alerts} - set(SCENARIOS))
    assert not missing, f"alerts without a promtool scenario in rules_tests/scenarios.yml: {missing}"
    tests = []
    for alert in alerts:
        scenario = SCENARIOS[alert["alert"]]
        burning, healthy = scenario["burning"], scenario["healthy"]
        labels = dict(alert.get("labels", {}), **burning["labels"])
        tests.append({
            "name": f"{alert['alert']} fires on a burning series",
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in burning["series"].items()],
            "alert_rule_test": [{
                "eval_time": burning["eval_time"],
                "alertname": alert["alert"],
                "exp_alerts": [{
                    "exp_labels": labels,
                    "exp_annotations": _expected_annotations(alert.get("annotations", {}), labels),
                }],
            }],
            "promql_expr_test": [
                {"expr": s["expr"], "eval_time": s["eval_time"],
                 "exp_samples": [{"labels": _series_labels(s["expr"], s.get("labels", {})), "value": s["value"]}]}
                for s in scenario.get("samples", [])
            ],
        })
        tests.append({
            "name": f"{alert['alert']} stays silent on a healthy series",
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in healthy["series"].items()],
            "alert_rule_test": [{"eval_time": healthy["eval_time"], "alertname": alert["alert"], "exp_alerts": []}],
        })
    return alerts, tests


def _series_labels(name, labels):
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_promtool_unit_tests_every_alert(rendered, promtool, tmp_path, inventory):
    groups = _groups(rendered[inventory])
    _write(tmp_path / "rules.yml", {"groups": groups})
    alerts, tests = _unit_tests(groups)
    assert len(tests) == 2 * len(alerts) >= 2 * 8
    _write(tmp_path / "tests.yml", {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests})
    code, out = _promtool(promtool, "test", "rules", "tests.yml", cwd=tmp_path)
    assert code == 0, out


def test_unit_tests_can_fail(rendered, promtool, tmp_path):
    """Guard against a vacuous harness: a healthy series presented as burning must make promtool fail."""
    groups = _groups(rendered["gke_l4"])
    _write(tmp_path / "rules.yml", {"groups": groups})
    _, tests = _unit_tests(groups)
    fires = tests[0]
    fires["input_series"] = tests[1]["input_series"]
    _write(tmp_path / "tests.yml", {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [fires]})
    code, out = _promtool(promtool, "test", "rules", "tests.yml", cwd=tmp_path)
    assert code != 0 and "FAILED" in out, out


def _all_exprs(tree):
    exprs = {}
    for group in _groups(tree):
        for rule in group["rules"]:
            exprs[f"rule {rule.get('alert') or rule.get('record')}"] = rule["expr"]
    for key, board in _dashboards(tree).items():
        for i, expr in enumerate(_dashboard_exprs(board)):
            exprs[f"dashboard {key} query {i}"] = expr
    return exprs


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_expression_parses(rendered, promtool, tmp_path, inventory):
    exprs = _all_exprs(rendered[inventory])
    assert len(exprs) > 40
    names = sorted(exprs)
    rules = [{"record": f"llmaas_parse_check:expr_{i}", "expr": exprs[n]} for i, n in enumerate(names)]
    _write(tmp_path / "parse.yml", {"groups": [{"name": "parse", "rules": rules}]})
    code, out = _promtool(promtool, "check", "rules", "parse.yml", cwd=tmp_path)
    if code != 0:
        bad = [names[int(i)] for i in re.findall(r"expr_(\d+)", out)]
        pytest.fail(f"promtool rejected expressions {bad or '(see output)'}:\n{out}")


def test_parse_check_rejects_bad_promql(promtool, tmp_path):
    """The parse check is real: promtool refuses a broken expression."""
    _write(tmp_path / "bad.yml", {"groups": [{"name": "g", "rules": [
        {"record": "x:y", "expr": "sum by (model_name (rate(vllm:prompt_tokens_total[5m]))"}]}]})
    code, _ = _promtool(promtool, "check", "rules", "bad.yml", cwd=tmp_path)
    assert code != 0


def _known(name, recorded):
    metrics = CATALOGUE["metrics"]
    if name in metrics or name in recorded:
        return True
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and metrics.get(base, {}).get("type") == "histogram":
            return True
    return False


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_metric_is_in_the_catalogue(rendered, inventory):
    tree = rendered[inventory]
    recorded = {rule["record"] for group in _groups(tree) for rule in group["rules"] if "record" in rule}
    unknown = {}
    used = set()
    for where, expr in _all_exprs(tree).items():
        names = metric_names(expr)
        used |= names
        missing = sorted(n for n in names if not _known(n, recorded))
        if missing:
            unknown[where] = missing
    assert not unknown, f"metrics not in tests/observability/metrics_catalogue.yml: {unknown}"
    assert any(n.startswith("vllm:") for n in used) and any(n.startswith("litellm_") for n in used)


def test_catalogue_entries_name_component_version_and_source():
    components = CATALOGUE["components"]
    for name, entry in CATALOGUE["metrics"].items():
        component = components.get(entry["component"])
        assert component, f"{name}: unknown component {entry['component']!r}"
        assert component["version"] and component["source"], name
        assert entry["type"] in ("counter", "gauge", "histogram"), name
        if entry["type"] == "counter" and entry["component"] != "dcgm_exporter":
            assert name.endswith("_total"), f"{name}: client-library counters are exposed with _total"


def test_metric_name_extraction():
    expr = ('sum by (model_name, le) (rate(vllm:time_to_first_token_seconds_bucket{model_name=~"a|b"}[5m]))'
            ' / on (x) group_left (y) foo_total offset 5m > 1e3 and bool bar')
    assert metric_names(expr) == {"vllm:time_to_first_token_seconds_bucket", "foo_total", "bar"}
    assert grafana_to_promql("label_values(inference_pool_ready_pods, name)") == "inference_pool_ready_pods"


def test_litellm_catalogue_matches_package():
    """Every litellm_* name in the catalogue is exported by the installed litellm package (exposition names)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    prometheus = pytest.importorskip("litellm.integrations.prometheus", reason="litellm is not installed")
    from prometheus_client import REGISTRY

    with contextlib.suppress(ValueError):  # already registered in this process
        prometheus.PrometheusLogger()
    exported = {}
    for family in REGISTRY.collect():
        if family.name.startswith("litellm_"):
            exposed = family.name + "_total" if family.type == "counter" else family.name
            exported[exposed] = family.type
    ours = {n: e for n, e in CATALOGUE["metrics"].items() if e["component"] == "litellm"}
    assert ours
    for name, entry in ours.items():
        assert name in exported, f"{name} is not exported by litellm's PrometheusLogger"
        assert exported[name] == entry["type"], f"{name}: litellm exports a {exported[name]}"
