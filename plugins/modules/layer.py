#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# The work happens in plugins/action/layer.py on the controller; this file carries the documentation.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: layer
short_description: Render a layer of the stack to a GitOps folder or apply it to a cluster
version_added: 0.1.0
description:
  - The one delivery mechanism every layer role of llmaas.platform uses.
  - Renders the role's templates with the play's variables, parses every document as a Kubernetes object,
    refuses Secrets that carry values and objects defined twice, and then either writes deterministic YAML
    (one file per object plus C(kustomization.yaml)) to C(<render_dir>/<name>/) or applies the objects with
    M(kubernetes.core.k8s) in dependency order (namespaces and CRDs first), waiting where readiness matters.
  - Third-party I(components) (pinned Helm charts or Git paths) become Argo CD Applications in render mode and
    M(kubernetes.core.helm) releases in apply mode.
  - Files this action wrote earlier that are no longer wanted are removed; files it did not write are left alone.
  - A layer of the registry whose feature switch is off (C(llmaas_contract.layers[].enabled)) delivers nothing, so
    its files of an earlier run are removed.
  - Reports C(changed) only when bytes on disk (render) or objects in the cluster (apply) change.
  - Sets the fact C(llmaas_layers) (name and sync wave of every layer delivered so far) for the app-of-apps.
options:
  name:
    description: Layer name; also the folder name under I(render_dir).
    type: str
    required: true
  wave:
    description: Argo CD sync wave of the layer's Application (layers sync in ascending order).
    type: int
    required: true
  templates:
    description: Jinja2 templates (searched in the role's C(templates/)) each producing zero or more YAML documents.
    type: list
    elements: str
    default: []
  components:
    description:
      - Pinned third-party components. Each has C(name), C(namespace), C(repo), C(version) and either C(chart)
        (with optional C(values)) or C(path) (a Git folder; C(manifest_url) is what apply mode fetches).
      - C(values_template) instead of C(values) names a template of the role (like I(templates)) that renders the
        chart's values as one YAML mapping.
      - C(feature) names a switch of C(llmaas_features); the component is delivered only while it is on.
    type: list
    elements: dict
    default: []
  delivery:
    description: C(render) or C(apply). Defaults to C(llmaas_delivery).
    type: str
    choices: [render, apply]
  render_dir:
    description: Root of the rendered tree. Defaults to C(llmaas_render_dir).
    type: path
  argocd_namespace:
    description: Namespace of Argo CD Applications. Defaults to C(llmaas_namespaces.argocd).
    type: str
  argocd_project:
    description: Argo CD project of component Applications. Defaults to C(llmaas_gitops.project).
    type: str
  apply_components:
    description: In apply mode, install components (needs the helm binary). Defaults to C(llmaas_apply_components).
    type: bool
  wait:
    description: In apply mode, wait for CRDs to be established and workloads to be ready.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for each object in apply mode.
    type: int
    default: 300
  kubeconfig:
    description: Kubeconfig for apply mode. Defaults to C(llmaas_kubeconfig).
    type: path
  context:
    description: Kubeconfig context for apply mode. Defaults to C(llmaas_kube_context).
    type: str
attributes:
  check_mode:
    description: Renders and compares, writes nothing; in apply mode the cluster is asked for a dry run per object.
    support: full
  diff_mode:
    description: Shows each file's before and after in render mode; apply mode reports the objects it changed.
    support: partial
author:
  - llmaas.platform maintainers (@llmaas)
"""

EXAMPLES = r"""
- name: Deliver the serving layer
  llmaas.platform.layer:
    name: serving
    wave: 20
    templates:
      - deployment.yaml.j2
      - service.yaml.j2
    components:
      - name: keda
        namespace: keda
        repo: https://kedacore.github.io/charts
        chart: keda
        version: 2.20.2
"""

RETURN = r"""
layer:
  description: Layer name.
  returned: always
  type: str
path:
  description: Folder the layer was rendered to.
  returned: render
  type: str
objects:
  description: Number of objects in the layer.
  returned: always
  type: int
written:
  description: Files created or changed.
  returned: render
  type: list
  elements: str
removed:
  description: Files this action had written before that the layer no longer contains.
  returned: render
  type: list
  elements: str
applied:
  description: Objects sent to the cluster, in order.
  returned: apply
  type: list
  elements: str
components:
  description: What happened to each component in apply mode.
  returned: apply
  type: list
  elements: dict
waited_for:
  description: Objects whose readiness was awaited.
  returned: apply
  type: list
  elements: str
"""
