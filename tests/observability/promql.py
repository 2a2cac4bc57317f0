"""Small PromQL helpers for the tests: metric names an expression reads, without a PromQL library.

promtool is the real parser (the tests run `promtool check rules` on every expression); this only lists the
metric names so they can be compared with the catalogue. It drops string literals, label matchers, ranges,
grouping label lists and function names, and keeps the remaining identifiers that are not PromQL keywords.
"""

import re

KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right",
    "inf", "nan", "start", "end",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")

# Grafana's range variables and what the tests substitute for them (Grafana does the same before querying).
GRAFANA_RANGES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
_LABEL_VALUES = re.compile(r"^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$", re.S)


def grafana_to_promql(expr):
    """A dashboard query as Prometheus receives it: range variables resolved, label_values() unwrapped."""
    for var, value in GRAFANA_RANGES.items():
        expr = expr.replace(var, value)
    match = _LABEL_VALUES.match(expr.strip())
    return match.group(1) if match else expr


def metric_names(expr):
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group(0)
        before = text[:match.start()]
        after = text[match.end():].lstrip()
        if name.lower() in KEYWORDS or after.startswith("("):
            continue
        if before and (before[-1].isdigit() or before[-1] == "."):  # exponent or unit of a number: 1e3, 5m
            continue
        names.add(name)
    return names
