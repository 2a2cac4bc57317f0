# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GuideLLM report parsing (plugins/filter/benchmark.py) on a sample built from GuideLLM 0.3's report schema."""

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.filter.benchmark import (
    REPORT_MARKER,
    FilterModule,
    benchmark_markdown,
    guidellm_report,
    guidellm_summary,
)

SAMPLE = json.loads((Path(__file__).parent / "fixtures" / "guidellm_report_v0_3.json").read_text())


def job_log(report):
    progress = "Benchmarks Metadata\n... progress table ...\nconcurrent@1 complete\n"
    return progress + REPORT_MARKER + "\n" + json.dumps(report, indent=2) + "\n"


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"guidellm_report", "guidellm_summary", "benchmark_markdown"}


def test_report_is_read_from_the_job_log():
    assert guidellm_report(job_log(SAMPLE)) == SAMPLE


@pytest.mark.parametrize("log, message", [
    ("guidellm crashed: connection refused", "marker line"),
    (REPORT_MARKER + "\n{not json", "not valid JSON"),
    (REPORT_MARKER + "\n{\"results\": []}", "no 'benchmarks' list"),
])
def test_broken_logs_fail_clearly(log, message):
    with pytest.raises(AnsibleFilterError, match=message):
        guidellm_report(log)


def test_one_row_per_concurrency_sorted():
    rows = guidellm_summary(SAMPLE)
    assert [r["concurrency"] for r in rows] == [1, 4]
    first, second = rows
    assert first["strategy"] == "concurrent"
    assert first["ttft_ms_median"] == 38.5
    assert first["ttft_ms_p95"] == pytest.approx(69.3)
    assert first["itl_ms_median"] == 11.25
    assert first["output_tokens_per_second"] == 84.7
    assert first["requests_per_second"] == 0.66
    assert (second["requests_successful"], second["requests_errored"]) == (112, 1)
    # more concurrency: more throughput, slower first token (the trade-off the table exists to show)
    assert second["output_tokens_per_second"] > first["output_tokens_per_second"]
    assert second["ttft_ms_median"] > first["ttft_ms_median"]


def test_median_falls_back_to_p50_and_missing_metrics_are_none():
    bench = {"args": {"strategy": {"type_": "concurrent", "streams": 2}},
             "metrics": {"time_to_first_token_ms": {"successful": {"percentiles": {"p50": 12.0, "p95": 20.0}}}},
             "request_totals": {"successful": 3, "errored": 0}}
    row = guidellm_summary({"benchmarks": [bench]})[0]
    assert row["ttft_ms_median"] == 12.0 and row["itl_ms_median"] is None


def test_markdown_table():
    table = benchmark_markdown(guidellm_summary(SAMPLE), title="gke_l4: qwen-coder")
    lines = table.splitlines()
    assert lines[0] == "## gke_l4: qwen-coder"
    assert lines[2].startswith("| Concurrency | TTFT median (ms) | TTFT p95 (ms) | ITL median (ms)")
    assert lines[4].startswith("| 1 | 38.5 | 69.3 | 11.25 |")
    assert lines[5].startswith("| 4 | 95.0 |")
    assert lines[5].endswith("| 112 | 1 |")
    assert "| - |" in benchmark_markdown([{"concurrency": 8}])


def test_summary_refuses_non_reports():
    with pytest.raises(AnsibleFilterError, match="benchmarks"):
        guidellm_summary({"foo": 1})
