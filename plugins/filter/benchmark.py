# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a GuideLLM benchmarks report (JSON, as GuideLLM writes with --output-path *.json) into rows and a table.

Schema used (GuideLLM 0.3, GenerativeBenchmarksReport): {"benchmarks": [GenerativeBenchmark, ...]} where each
benchmark has args.strategy ({"type_": "concurrent", "streams": N}), request_totals (successful, errored,
incomplete, total) and metrics.<name>.successful = {mean, median, ..., percentiles: {p50?, p90, p95, p99, ...}}
for time_to_first_token_ms, inter_token_latency_ms, output_tokens_per_second, requests_per_second.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError

REPORT_MARKER = "=== llmaas guidellm report ==="


def guidellm_report(log_text, marker=REPORT_MARKER):
    """The JSON report the benchmark Job prints after the marker line of its log."""
    text = str(log_text or "")
    index = text.rfind(marker)
    if index < 0:
        raise AnsibleFilterError(f"no GuideLLM report in the log: marker line {marker!r} not found")
    body = text[index + len(marker):].strip()
    try:
        report = json.loads(body)
    except ValueError as err:
        raise AnsibleFilterError(f"the GuideLLM report after the marker is not valid JSON: {err}")
    if not isinstance(report, dict) or not isinstance(report.get("benchmarks"), list):
        raise AnsibleFilterError("the GuideLLM report has no 'benchmarks' list")
    return report


def _stat(metrics, name, field):
    summary = ((metrics.get(name) or {}).get("successful")) or {}
    percentiles = summary.get("percentiles") or {}
    if field == "median":
        value = summary.get("median", percentiles.get("p50"))
    elif field == "mean":
        value = summary.get("mean")
    else:
        value = percentiles.get(field)
    return None if value is None else round(float(value), 2)


def _strategy(benchmark):
    for path in (("args", "strategy"), ("config", "strategy"), ("scheduler", "strategy")):
        node = benchmark
        for key in path:
            node = (node or {}).get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            return node
    return {}


def guidellm_summary(report):
    """One row per benchmark (concurrency level), sorted by concurrency: TTFT, ITL, throughput, request counts."""
    if not isinstance(report, dict) or not isinstance(report.get("benchmarks"), list):
        raise AnsibleFilterError("guidellm_summary expects a GuideLLM report with a 'benchmarks' list")
    rows = []
    for benchmark in report["benchmarks"]:
        strategy = _strategy(benchmark)
        metrics = benchmark.get("metrics") or {}
        totals = benchmark.get("request_totals") or {}
        rows.append({
            "strategy": strategy.get("type_", "unknown"),
            "concurrency": strategy.get("streams"),
            "requests_successful": totals.get("successful"),
            "requests_errored": totals.get("errored"),
            "ttft_ms_median": _stat(metrics, "time_to_first_token_ms", "median"),
            "ttft_ms_p95": _stat(metrics, "time_to_first_token_ms", "p95"),
            "itl_ms_median": _stat(metrics, "inter_token_latency_ms", "median"),
            "itl_ms_p95": _stat(metrics, "inter_token_latency_ms", "p95"),
            "output_tokens_per_second": _stat(metrics, "output_tokens_per_second", "mean"),
            "requests_per_second": _stat(metrics, "requests_per_second", "mean"),
        })
    return sorted(rows, key=lambda r: (r["concurrency"] is None, r["concurrency"] or 0))


COLUMNS = [
    ("concurrency", "Concurrency"),
    ("ttft_ms_median", "TTFT median (ms)"),
    ("ttft_ms_p95", "TTFT p95 (ms)"),
    ("itl_ms_median", "ITL median (ms)"),
    ("itl_ms_p95", "ITL p95 (ms)"),
    ("output_tokens_per_second", "Output tok/s"),
    ("requests_per_second", "Req/s"),
    ("requests_successful", "OK"),
    ("requests_errored", "Errors"),
]


def benchmark_markdown(rows, title=""):
    """A markdown table of guidellm_summary rows (missing values shown as '-')."""
    lines = [f"## {title}", ""] if title else []
    lines.append("| " + " | ".join(column[1] for column in COLUMNS) + " |")
    lines.append("|" + "|".join("---:" for column in COLUMNS) + "|")
    for row in rows or []:
        cells = ["-" if row.get(column[0]) is None else str(row.get(column[0])) for column in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


class FilterModule:
    def filters(self):
        return {
            "guidellm_report": guidellm_report,
            "guidellm_summary": guidellm_summary,
            "benchmark_markdown": benchmark_markdown,
        }
