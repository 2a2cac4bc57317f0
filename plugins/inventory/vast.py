# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: vast
short_description: Vast.ai instances as Ansible hosts
version_added: "0.1.0"
description:
  - Lists your Vast.ai instances (C(GET /api/v0/instances/)) and adds the running ones as hosts, with the SSH
    address and port the API reports, C(ansible_user=root), and GPU facts as host variables.
  - Instances can be narrowed down by exact labels or a label prefix; hosts are grouped under O(group) and by
    GPU model (C(vast_gpu_rtx_4090), ...).
  - The configuration file name must end with C(vast.yml) or C(vast.yaml).
  - "Host variables set: C(vast_instance_id), C(vast_label), C(vast_machine_id), C(vast_status), C(vast_ports)
    (container port to public port, for example C({'6443/tcp': 41023})), C(vast_public_ipaddr), C(gpu_name),
    C(num_gpus), C(gpu_ram) (MB per GPU), C(gpu_total_ram) (MB), C(cuda_version) (highest CUDA the driver
    supports), C(driver_version), C(dph_total) (USD per hour), C(geolocation)."
author:
  - llmaas.platform maintainers (@llmaas)
extends_documentation_fragment:
  - constructed
  - llmaas.platform.vast
options:
  plugin:
    description: Marks this file as a configuration of this plugin.
    type: str
    required: true
    choices: [llmaas.platform.vast]
  # Descriptions and types come from the llmaas.platform.vast fragment (shared with vast_instance); a plugin
  # reads its options through the config system, so the environment variables are declared here.
  api_key:
    env:
      - name: VAST_API_KEY
  api_url:
    default: https://console.vast.ai
    env:
      - name: VAST_API_URL
  labels:
    description: Only instances whose label is one of these.
    type: list
    elements: str
    default: []
  label_prefix:
    description: Only instances whose label starts with this prefix.
    type: str
    default: ""
  include_not_running:
    description:
      - Also add instances that are not C(running) (loading, exited, ...). They usually have no SSH endpoint yet.
    type: bool
    default: false
  hostname:
    description: What names the host in the inventory.
    type: str
    choices: [label, id]
    default: label
  ssh_endpoint:
    description:
      - C(ssh) uses C(ssh_host)/C(ssh_port) as the API reports them (the Vast SSH address).
      - C(direct) uses C(public_ipaddr) and the public port mapped to 22/tcp, when the API reports one.
    type: str
    choices: [ssh, direct]
    default: ssh
  group:
    description: Group every host from this source joins.
    type: str
    default: vast
  group_by_gpu:
    description: Add each host to C(vast_gpu_<model>), for example C(vast_gpu_rtx_4090).
    type: bool
    default: true
"""

EXAMPLES = r"""
# inventories/vast_cloud/vast.yml: export VAST_API_KEY first.
plugin: llmaas.platform.vast
label_prefix: llmaas-vast-
keyed_groups:
  - key: geolocation | regex_replace('^.*, ', '')
    prefix: vast_country
compose:
  ansible_ssh_common_args: "'-o StrictHostKeyChecking=accept-new'"
groups:
  k3s_cluster: true
"""

import re

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

from ansible_collections.llmaas.platform.plugins.module_utils.vast import (
    VastClient,
    VastError,
    mapped_ports,
    ssh_endpoint,
)


def gpu_group_name(gpu_name):
    return "vast_gpu_" + re.sub(r"[^a-z0-9]+", "_", (gpu_name or "unknown").lower()).strip("_")


def host_vars(instance, mode="ssh"):
    host, port = ssh_endpoint(instance, mode)
    num_gpus = instance.get("num_gpus")
    gpu_ram = instance.get("gpu_ram")
    hv = {
        "ansible_user": "root",
        "vast_instance_id": instance.get("id"),
        "vast_label": instance.get("label"),
        "vast_machine_id": instance.get("machine_id"),
        "vast_status": instance.get("actual_status"),
        "vast_public_ipaddr": (instance.get("public_ipaddr") or "").strip() or None,
        "vast_ports": mapped_ports(instance),
        "gpu_name": instance.get("gpu_name"),
        "num_gpus": num_gpus,
        "gpu_ram": gpu_ram,
        "gpu_total_ram": instance.get("gpu_totalram") or ((gpu_ram or 0) * (num_gpus or 0)) or None,
        "cuda_version": instance.get("cuda_max_good"),
        "driver_version": instance.get("driver_version"),
        "dph_total": instance.get("dph_total"),
        "geolocation": instance.get("geolocation"),
    }
    if host:
        hv["ansible_host"] = host
    if port:
        hv["ansible_port"] = port
    return hv


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "llmaas.platform.vast"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("vast.yml", "vast.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            client = VastClient(
                api_key=self.get_option("api_key"),
                api_url=self.get_option("api_url"),
                timeout=self.get_option("timeout"),
                validate_certs=self.get_option("validate_certs"),
                retries=self.get_option("retries"),
            )
            instances = client.list_instances()
        except VastError as e:
            raise AnsibleParserError("llmaas.platform.vast inventory (%s): %s" % (path, e))
        self.populate(instances)

    def _wanted(self, instance):
        label = instance.get("label") or ""
        labels = self.get_option("labels")
        if labels and label not in labels:
            return False
        if not label.startswith(self.get_option("label_prefix")):
            return False
        return instance.get("actual_status") == "running" or self.get_option("include_not_running")

    def populate(self, instances):
        group = self.inventory.add_group(self.get_option("group"))
        strict = self.get_option("strict")
        naming = self.get_option("hostname")
        for instance in sorted(instances, key=lambda i: i.get("id") or 0):
            if not self._wanted(instance):
                continue
            name = instance.get("label") if naming == "label" and instance.get("label") else str(instance.get("id"))
            if name in self.inventory.hosts:
                raise AnsibleError("llmaas.platform.vast: two instances map to host %r (labels must be unique; "
                                   "instance ids %s)" % (name, instance.get("id")))
            self.inventory.add_host(name, group=group)
            hv = host_vars(instance, self.get_option("ssh_endpoint"))
            for key, value in hv.items():
                self.inventory.set_variable(name, key, value)
            if self.get_option("group_by_gpu"):
                gpu_group = self.inventory.add_group(gpu_group_name(instance.get("gpu_name")))
                self.inventory.add_child(gpu_group, name)
            self._set_composite_vars(self.get_option("compose"), hv, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hv, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hv, name, strict=strict)
