#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# The work happens in plugins/action/contract.py on the controller; this file carries the documentation.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: contract
short_description: Check the whole inventory in one pass and publish the platform contract
version_added: 0.2.0
description:
  - The first task of every playbook that takes the inventory (the C(preflight) role runs it).
  - Checks every shared C(llmaas_*) variable against the preflight role's spec (entry point C(inventory)) and every
    layer role's variables against that role's C(main) spec, strictly (a quoted number is refused, not converted),
    then the rules that span variables (unique model names and key aliases, tenants asking only for served models,
    limits >= 0, namespaces that are DNS labels, pinned image tags, a Git URL for Argo CD, the render directory a
    directory holding only files this collection wrote, llmaas_render_dir matching llmaas_gitops.path inside a Git
    work tree, and each layer's own rules).
  - Reports every problem at once, one line each naming the variable (and list entry), the value and what is
    allowed; nothing is written when any is found.
  - Sets the fact C(llmaas_contract) (every default filled, every derived value computed once, the layer registry;
    C(llmaas_contract.features) is every switch of C(llmaas_features), defaults filled) and the pins of
    C(playbooks/vars/versions.yml) (C(llmaas_images), C(llmaas_charts), C(llmaas_host_packages),
    C(llmaas_kubernetes_version)), each replaced by an C(-e) value of that name.
options:
  layers:
    description:
      - Layers whose own rules run. Default every layer the inventory enables. A layer role used on its own passes
        its layer.
    type: list
    elements: str
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
author:
  - llmaas.platform maintainers (@llmaas)
"""

EXAMPLES = r"""
- name: Check the inventory and derive the platform contract
  llmaas.platform.contract:

- name: Check only what the serving layer reads (a role used on its own)
  llmaas.platform.contract:
    layers: [serving]
"""

RETURN = r"""
msg:
  description: One line saying what was accepted.
  returned: success
  type: str
ansible_facts:
  description: C(llmaas_contract) (layers, features, delivery, render_dir, namespaces, gitops, argocd, gpu, serving,
    models with derived replicas, service, url and autoscaling bounds, labels) and the pins.
  returned: success
  type: dict
"""
