# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-tenant guardrails on the open-source LiteLLM proxy, defined once for the render and for playbooks/tenants.yml.

`guardrails` on a key or team is an Enterprise field in LiteLLM 1.108 (adrs/0008-guardrails.md). What the open-source
proxy does honour: a model group's own guardrails (`model_list[].litellm_params.guardrails`, merged before pre_call
by litellm/proxy/utils.py check_and_merge_model_level_guardrails) run for every caller of that group, and a key's or
team's `models` decide which groups it may call. So a tenant that opts into guardrails that are off by default
(`llmaas_tenants[].guardrails: [<name>, ...]`) is given only the guarded variants `<public name>+<name>[+<name>]`
(names sorted), which the gateway renders for every opted-in set.

'+' joins the names: gateway names are `<model>-<tier>` and guardrail names letters, digits and '-', so the variant
name cannot collide with either. LiteLLM reads a key's `models` entry as a pattern only when it holds '*'
(auth_checks.is_model_allowed_by_pattern), and '/' would read as a provider prefix; the real proxy serves and
gates `+` names (tests/e2e/test_guardrails_e2e.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

SEPARATOR = "+"


def _default_on(guardrail):
    return bool((guardrail.get("litellm_params") or {}).get("default_on"))


def enforceable(guardrails):
    """Names a tenant can opt into: the gateway's guardrails that are off by default."""
    return [g["guardrail_name"] for g in guardrails or [] if not _default_on(g)]


def opt_in(value):
    """A tenant's `guardrails` value as the sorted names it enforces ([] for true, absent or anything else)."""
    if not isinstance(value, list):
        return []
    return sorted({name for name in value if isinstance(name, str)})


def guarded_name(public_name, names):
    """The variant of a gateway model group that runs `names` for every caller."""
    return SEPARATOR.join([public_name] + sorted(names))


def problems(tenants, guardrails):
    """One line per tenant whose `guardrails` cannot be honoured, naming the value and the allowed names."""
    allowed = enforceable(guardrails)
    always = [g["guardrail_name"] for g in guardrails or [] if _default_on(g)]
    allowed_text = (f"true or a list of guardrails that are off by default: {', '.join(allowed)}" if allowed
                    else "true only (no guardrail of this gateway is off by default)")
    out = []
    for tenant in tenants or []:
        value = tenant.get("guardrails") if isinstance(tenant, dict) else None
        if value is None or value is True:
            continue
        where = f"llmaas_tenants[{tenant.get('team_id')!r}].guardrails"
        if value is False:
            out.append(f"{where}: got false; allowed: {allowed_text}. Taking a tenant out of the "
                       "default-on guardrails needs LiteLLM Enterprise (key/team guardrails; adrs/0008-guardrails.md)")
            continue
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            out.append(f"{where}: got {value!r}; allowed: {allowed_text}")
            continue
        bad = [name for name in value if name not in allowed]
        if bad:
            why = "; ".join(
                f"{name!r} is on by default for every tenant (nothing to enforce)" if name in always
                else f"{name!r} is no guardrail of the gateway" for name in bad)
            out.append(f"{where}: got {value!r}; {why}; allowed: {allowed_text}")
    return out


def guard_sets(tenants, guardrails):
    """The distinct sets of names tenants opt into (sorted tuples, sorted); ValueError naming every bad tenant."""
    found = problems(tenants, guardrails)
    if found:
        raise ValueError("; ".join(found))
    return sorted({tuple(opt_in(t.get("guardrails"))) for t in tenants or []} - {()})


def tenant_models(models, value, offered=None):
    """The gateway names a tenant's team or key is given: the guarded variants of `models` when it opts in.

    models None (the tenant names none): the guarded variants of `offered` when it opts in, else None (no
    restriction, as before). A single name gives a single name.
    """
    names = opt_in(value)
    if isinstance(models, str):
        return guarded_name(models, names) if names else models
    if models is None:
        if not names or offered is None:
            return None
        models = offered
    return [guarded_name(m, names) for m in models] if names else list(models)
