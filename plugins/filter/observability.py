# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build Prometheus SLO rule groups and Grafana dashboards from compact data, deterministically.

The observability role keeps its rules and dashboards as small data (thresholds, windows, panel lists) and turns
them into the verbose upstream formats here, so a change is one line of data and the output is byte-stable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - unit tests import without ansible in some environments
    AnsibleFilterError = ValueError

# Prometheus duration, restricted to one unit: what the burn-rate windows and `for` clauses accept.
DURATION = re.compile(r"^([1-9][0-9]*)(s|m|h|d|w)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# Names of the recorded series (level:metric:operations, the Prometheus naming convention for rules).
AVAILABILITY_RATIO = "llmaas:slo_availability_errors:ratio_rate{window}"
TTFT_P95 = "llmaas:vllm_time_to_first_token_seconds:p95_rate5m"
ITL_P95 = "llmaas:vllm_inter_token_latency_seconds:p95_rate5m"
E2E_P95 = "llmaas:vllm_e2e_request_latency_seconds:p95_rate5m"
QUEUE_DEPTH = "llmaas:vllm_num_requests_waiting:sum"
RUNNING = "llmaas:vllm_num_requests_running:sum"
KV_CACHE = "llmaas:vllm_kv_cache_usage_perc:max"
PREFIX_HIT = "llmaas:vllm_prefix_cache_hit:ratio_rate5m"


def duration_seconds(value):
    """Seconds in a one-unit Prometheus duration such as 5m or 6h; raises on anything else."""
    match = DURATION.match(str(value))
    if not match:
        raise AnsibleFilterError(
            f"{value!r} is not a Prometheus duration with one unit (e.g. 5m, 1h, 30m, 6h, 3d)"
        )
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _number(value):
    """Stable text for a float threshold: no binary noise (0.072 rather than 0.07200000000000001)."""
    text = f"{float(value):.10g}"
    return text


def _burn_alert_name(name):
    return "LLMaaSErrorBudgetBurn" + "".join(part.capitalize() for part in re.split(r"[-_ ]+", str(name)) if part)


def slo_rule_groups(config):
    """PrometheusRule `groups` for the SLOs: recording rules, burn-rate alerts, latency and saturation alerts.

    config keys: objective (0..1 exclusive), burn_rate_alerts (list of name/long_window/short_window/factor/
    severity/for), latency (ttft/itl/e2e p95 thresholds in seconds), latency_for, queue_depth, queue_for,
    kv_cache, team_budget_ratio, pool_ready_alert (bool).
    """
    objective = float(config["objective"])
    if not 0 < objective < 1:
        raise AnsibleFilterError(f"SLO objective must be strictly between 0 and 1, got {objective}")
    budget = 1 - objective
    alerts = config.get("burn_rate_alerts") or []
    windows = []
    for alert in alerts:
        long_s, short_s = duration_seconds(alert["long_window"]), duration_seconds(alert["short_window"])
        if short_s >= long_s:
            raise AnsibleFilterError(
                f"burn-rate alert {alert['name']!r}: short_window {alert['short_window']} must be shorter than "
                f"long_window {alert['long_window']}"
            )
        for window in (alert["long_window"], alert["short_window"]):
            if window not in windows:
                windows.append(window)
    windows.sort(key=duration_seconds)

    recording = []
    for window in windows:
        recording.append({
            "record": AVAILABILITY_RATIO.format(window=window),
            "expr": (
                f'sum(rate(litellm_proxy_total_requests_metric_total{{status_code=~"5.."}}[{window}]))\n'
                f"/\nsum(rate(litellm_proxy_total_requests_metric_total[{window}]))"
            ),
        })
    for record, metric in ((TTFT_P95, "vllm:time_to_first_token_seconds"),
                           (ITL_P95, "vllm:inter_token_latency_seconds"),
                           (E2E_P95, "vllm:e2e_request_latency_seconds")):
        recording.append({
            "record": record,
            "expr": f"histogram_quantile(0.95, sum by (model_name, le) (rate({metric}_bucket[5m])))",
        })
    recording += [
        {"record": QUEUE_DEPTH, "expr": "sum by (model_name) (vllm:num_requests_waiting)"},
        {"record": RUNNING, "expr": "sum by (model_name) (vllm:num_requests_running)"},
        {"record": KV_CACHE, "expr": "max by (model_name) (vllm:kv_cache_usage_perc)"},
        {"record": PREFIX_HIT, "expr": (
            "sum by (model_name) (rate(vllm:prefix_cache_hits_total[5m]))\n"
            "/\nsum by (model_name) (rate(vllm:prefix_cache_queries_total[5m]))"
        )},
    ]

    burn = []
    for alert in alerts:
        threshold = _number(float(alert["factor"]) * budget)
        long_rec = AVAILABILITY_RATIO.format(window=alert["long_window"])
        short_rec = AVAILABILITY_RATIO.format(window=alert["short_window"])
        burn.append({
            "alert": _burn_alert_name(alert["name"]),
            "expr": f"{long_rec} > {threshold}\nand\n{short_rec} > {threshold}",
            "for": alert.get("for") or "2m",
            "labels": {
                "severity": alert["severity"],
                "slo": "availability",
                "long_window": alert["long_window"],
                "short_window": alert["short_window"],
            },
            "annotations": {
                "summary": (
                    f"The gateway burns its {_number(objective * 100)}% availability error budget "
                    f"{_number(alert['factor'])}x faster than sustainable"
                ),
                "description": (
                    f"More than {_number(float(threshold) * 100)}% of tenant gateway requests answered 5xx over "
                    f"both the last {alert['long_window']} and the last {alert['short_window']}."
                ),
            },
        })

    latency = config["latency"]
    for_ = config.get("latency_for") or "10m"
    duration_seconds(for_)
    duration_seconds(config.get("queue_for") or "10m")
    serving = []
    for name, record, key, what in (
        ("LLMaaSTimeToFirstTokenHigh", TTFT_P95, "ttft_p95_seconds", "time to first token"),
        ("LLMaaSInterTokenLatencyHigh", ITL_P95, "inter_token_latency_p95_seconds", "inter-token latency"),
        ("LLMaaSEndToEndLatencyHigh", E2E_P95, "e2e_p95_seconds", "end-to-end request latency"),
    ):
        limit = float(latency[key])
        if limit <= 0:
            raise AnsibleFilterError(f"latency target {key} must be > 0, got {limit}")
        serving.append({
            "alert": name,
            "expr": f"{record} > {_number(limit)}",
            "for": for_,
            "labels": {"severity": "warning", "slo": "latency"},
            "annotations": {
                "summary": f"p95 {what} of model {{{{ $labels.model_name }}}} is above {_number(limit)}s",
                "description": (
                    f"The 95th percentile {what} of {{{{ $labels.model_name }}}} has stayed above the "
                    f"{_number(limit)}s objective for {for_}."
                ),
            },
        })
    serving.append({
        "alert": "LLMaaSQueueBacklog",
        "expr": f"{QUEUE_DEPTH} > {_number(config['queue_depth'])}",
        "for": config.get("queue_for") or "10m",
        "labels": {"severity": "warning", "slo": "saturation"},
        "annotations": {
            "summary": "Requests queue up in front of model {{ $labels.model_name }}",
            "description": (
                f"More than {_number(config['queue_depth'])} requests have waited in the vLLM queue of "
                "{{ $labels.model_name }}; add replicas or lower the load."
            ),
        },
    })
    serving.append({
        "alert": "LLMaaSKVCacheSaturated",
        "expr": f"{KV_CACHE} > {_number(config['kv_cache'])}",
        "for": "15m",
        "labels": {"severity": "warning", "slo": "saturation"},
        "annotations": {
            "summary": "KV cache of model {{ $labels.model_name }} is nearly full",
            "description": "vLLM preempts requests when its KV cache is full; latency rises before errors do.",
        },
    })
    if config.get("pool_ready_alert"):
        serving.append({
            "alert": "LLMaaSInferencePoolEmpty",
            "expr": "inference_pool_ready_pods == 0",
            "for": "5m",
            "labels": {"severity": "critical", "slo": "availability"},
            "annotations": {
                "summary": "InferencePool {{ $labels.name }} has no ready model server",
                "description": (
                    "The endpoint picker of {{ $labels.name }} sees no ready pod, so the gateway answers 503. "
                    "This stack does not scale to zero, so an empty pool is an outage."
                ),
            },
        })
    ratio = float(config["team_budget_ratio"])
    if not 0 < ratio < 1:
        raise AnsibleFilterError(f"team budget warning ratio must be strictly between 0 and 1, got {ratio}")
    tenants = [{
        "alert": "LLMaaSTeamBudgetNearlySpent",
        "expr": (
            f"litellm_remaining_team_budget_metric\n/\n(litellm_team_max_budget_metric > 0)\n< {_number(ratio)}"
        ),
        "for": "15m",
        "labels": {"severity": "info", "slo": "budget"},
        "annotations": {
            "summary": "Team {{ $labels.team_alias }} has less than " + _number(ratio * 100) + "% of its budget left",
            "description": (
                "Requests of team {{ $labels.team }} are refused once the budget is spent "
                "(fail-closed in the prod profile)."
            ),
        },
    }]
    return [
        {"name": "llmaas-slo-recording", "interval": "30s", "rules": recording},
        {"name": "llmaas-slo-burn-rate", "rules": burn},
        {"name": "llmaas-serving", "rules": serving},
        {"name": "llmaas-tenants", "rules": tenants},
    ]


# --- Grafana dashboards ---------------------------------------------------------------------------------------

_PANEL_HEIGHT = {"stat": 4, "gauge": 6}
# Legends name labels as {label} in the role's data (double braces would be Ansible templating); Grafana wants
# {{label}}.
_LEGEND_LABEL = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def grafana_dashboard(spec):
    """Grafana dashboard JSON (schemaVersion 39) from a compact spec; sorted keys, so the text is deterministic.

    spec: uid, title, tags, variables (list of name/label/query; query is a label_values() query), panels (list
    of title, type timeseries|stat|gauge|table|bargauge, unit, width 1..24, targets: list of expr/legend).
    """
    for field in ("uid", "title", "panels"):
        if not spec.get(field):
            raise AnsibleFilterError(f"dashboard spec lacks {field!r}")
    templating = [{
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
    }]
    for var in spec.get("variables") or []:
        templating.append({
            "name": var["name"],
            "label": var.get("label", var["name"]),
            "type": "query",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": var["query"], "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "definition": var["query"],
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {},
            "refresh": 2,
            "sort": 1,
            "hide": 0,
        })

    panels, x, y, row_height = [], 0, 0, 0
    for index, panel in enumerate(spec["panels"], start=1):
        width = int(panel.get("width", 12))
        if not 1 <= width <= 24:
            raise AnsibleFilterError(f"dashboard {spec['uid']}: panel {panel['title']!r} width must be 1..24")
        height = int(panel.get("height", _PANEL_HEIGHT.get(panel.get("type", "timeseries"), 8)))
        if x + width > 24:
            x, y, row_height = 0, y + row_height, 0
        targets = []
        for ref, target in enumerate(panel["targets"]):
            targets.append({
                "refId": chr(ord("A") + ref),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": target["expr"],
                "legendFormat": _LEGEND_LABEL.sub(r"{{\1}}", target.get("legend", "__auto")),
                "range": panel.get("type", "timeseries") != "table",
                "instant": panel.get("type", "timeseries") == "table",
            })
        panels.append({
            "id": index,
            "title": panel["title"],
            "description": panel.get("description", ""),
            "type": panel.get("type", "timeseries"),
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": height, "w": width, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": panel.get("unit", "short")}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
            "targets": targets,
        })
        x += width
        row_height = max(row_height, height)

    dashboard = {
        "uid": spec["uid"],
        "title": spec["title"],
        "tags": sorted(set(spec.get("tags") or []) | {"llmaas"}),
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "refresh": spec.get("refresh", "30s"),
        "time": {"from": spec.get("from", "now-6h"), "to": "now"},
        "templating": {"list": templating},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dashboard_exprs(dashboard_json):
    """Every PromQL expression of a dashboard (JSON text or dict), panel targets and query variables."""
    board = json.loads(dashboard_json) if isinstance(dashboard_json, str) else dashboard_json
    exprs = [t["expr"] for p in board.get("panels", []) for t in p.get("targets", []) if t.get("expr")]
    for var in board.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict) and query.get("query", "").startswith("label_values("):
            exprs.append(query["query"])
    return exprs


class FilterModule:
    def filters(self):
        return {
            "slo_rule_groups": slo_rule_groups,
            "grafana_dashboard": grafana_dashboard,
            "prometheus_duration_seconds": duration_seconds,
        }
