# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the plays around the contract: a shared llmaas_* value with the contract's defaults filled (for plays
that run without preflight), a profile's figures, the summary at the end of site.yml, and what teardown could not
remove."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.llmaas.platform.plugins.plugin_utils import contract


def shared_defaults(value, name):
    """value of the shared variable `name`, checked and completed with the defaults of the preflight spec."""
    spec = contract.role_spec("preflight", "inventory")
    if name not in spec:
        raise AnsibleFilterError(f"shared_defaults: {name!r} is not a shared variable; known: {sorted(spec)}")
    errors = []
    out = contract.normalise(value, spec[name], name, errors)
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return out


def profile(name):
    """The figures llmaas_profile `name` sets (plugins/plugin_utils/contract.py PROFILES), for role defaults."""
    if name not in contract.PROFILES:
        raise AnsibleFilterError(f"llmaas_profile: got {name!r}; allowed: {', '.join(contract.PROFILES)}")
    return dict(contract.PROFILES[name])


def delivery_summary(layers, found, check_mode=False):
    """Lines for a person at the end of site.yml: per layer what changed, where the tree is, the next command."""
    lines = []
    if found["delivery"] == "render":
        verb = "would write" if check_mode else "written"
        for layer in layers:
            written, removed = len(layer.get("written") or []), len(layer.get("removed") or [])
            unchanged = max(layer.get("files", 0) - written, 0)
            lines.append(f"{layer['name']:<14} {verb} {written:>3}, unchanged {unchanged:>3}, removed {removed:>3}")
        tree = found["render_dir"]
        root = f"{tree}/argocd/application-{found.get('cluster_name', '')}-root.yaml"
        lines.append(f"tree: {tree}")
        lines.append(f"next: commit {tree} to {found['gitops']['repo_url']} at path {found['gitops']['path']} "
                     f"(revision {found['gitops']['revision']}), then once: kubectl apply -f {root}")
    else:
        for layer in layers:
            lines.append(f"{layer['name']:<14} applied {layer.get('objects', 0):>3} objects")
        lines.append("next: ansible-playbook -i <inventory> playbooks/tenants.yml (teams and keys)")
    return lines


# What kubernetes.core.k8s (state absent, continue_on_error) reports for an object that is already gone is not an
# error of teardown: an API the cluster does not serve (nothing of that kind can exist; runner.py get_definitions ->
# find_resource) or a 404 on the delete call, when a controller removed the object between the module's read and its
# delete (the token controller deletes a ServiceAccount's token Secret with the ServiceAccount).
def _already_gone(error):
    msg = str(error.get("msg", ""))
    return "Failed to find exact match" in msg or error.get("reason") == "Not Found" or '"code":404' in msg


def removal_errors(loop_results):
    """One line per object a looped kubernetes.core.k8s (state absent, continue_on_error) failed to remove, as
    "<layer>: <Kind>/<name>: <first line of the error>"; the loop item is {name, objects} (one layer)."""
    lines = []
    for layer in loop_results:
        objects = layer["item"]["objects"]
        nested = layer.get("result")
        per_object = nested["results"] if isinstance(nested, dict) and "results" in nested else [layer]
        for obj, result in zip(objects, per_object, strict=True):
            error = result.get("error")
            if error and not _already_gone(error):
                first = (str(error.get("msg") or "no message").strip().splitlines() or ["no message"])[0]
                lines.append(f"{layer['item']['name']}: {obj['kind']}/{obj['metadata']['name']}: {first}")
    return lines


class FilterModule:
    def filters(self):
        return {"shared_defaults": shared_defaults, "profile": profile, "delivery_summary": delivery_summary,
                "removal_errors": removal_errors}
