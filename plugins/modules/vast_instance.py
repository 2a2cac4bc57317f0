#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vast_instance
short_description: Rent or destroy a Vast.ai GPU instance, identified by its label
version_added: "0.1.0"
description:
  - Finds the cheapest rentable Vast.ai offer that matches GPU model, GPU count, maximum price per hour,
    minimum reliability and disk, and creates an instance from it with the given O(label).
  - The label is the identity. With O(state=present), an instance that already carries the label is left
    alone (C(changed=false)); with O(state=absent), every instance carrying the label is destroyed, and
    none left means C(changed=false).
  - Optionally waits, for at most O(wait_timeout) seconds, until the instance reports C(running), and fails
    with the instance's own status message when it stays in C(loading).
  - In check mode nothing is rented or destroyed; the offer that would be used is returned.
author:
  - llmaas.platform maintainers (@llmaas)
extends_documentation_fragment:
  - llmaas.platform.vast
  - llmaas.platform.attributes
  - llmaas.platform.attributes.vast_group
attributes:
  check_mode:
    description: Searches offers and reads instances, but rents and destroys nothing.
    support: full
  diff_mode:
    description: No diff is produced.
    support: none
options:
  label:
    description:
      - Label that identifies the instance. Must be unique among your Vast instances.
    type: str
    required: true
  state:
    description: Whether an instance with O(label) should exist.
    type: str
    choices: [present, absent]
    default: present
  gpu_name:
    description:
      - GPU model(s) as Vast names them, for example C(RTX 4090), C(L40S), C(H100 SXM). Underscores are read as
        spaces (C(RTX_4090)), as in the vastai CLI.
      - Required to create an instance.
    type: list
    elements: str
  num_gpus:
    description: Exact number of GPUs in the offer.
    type: int
    default: 1
  max_price_per_hour:
    description: Highest total price (C(dph_total)) in USD per hour the offer may cost.
    type: float
    aliases: [max_dph]
  min_reliability:
    description: Lowest host reliability score (0 to 1) the offer may have.
    type: float
    default: 0.98
  disk:
    description: Local disk in GB to allocate; offers with less free disk are skipped.
    type: float
    default: 50
  min_cuda:
    description: Lowest CUDA version (C(cuda_max_good)) the host driver must support, for example V(12.4).
    type: float
  verified:
    description: Only consider offers from verified hosts.
    type: bool
    default: true
  vm:
    description:
      - Rent a virtual machine instead of a container (only offers with C(vms_enabled)).
      - Needed to run a Kubernetes node (k3s needs systemd, cgroups and its own containerd).
    type: bool
    default: false
  extra_filters:
    description:
      - "Further offer filters in the Vast query syntax: field name to C({op: value}) (ops C(eq), C(neq), C(gt),
        C(gte), C(lt), C(lte), C(in), C(notin)); a plain value means C(eq)."
      - "For example C({inet_down: {gte: 500}})."
    type: dict
    default: {}
  image:
    description:
      - Container or VM image to launch. Required to create an instance.
    type: str
  onstart:
    description: Shell commands run after the Vast entrypoint has started (SSH runtypes).
    type: str
  env:
    description:
      - Environment variables and port mappings. A port mapping uses the Docker C(-p) syntax as key and the
        string C(1) as value (see EXAMPLES); Vast then publishes the port on a public port of its choice.
    type: dict
    default: {}
  runtype:
    description: Launch mode; the C(ssh_*) modes give SSH access, which the bootstrap playbook needs.
    type: str
    choices: [ssh_direct, ssh_proxy, jupyter_direct, args]
    default: ssh_direct
  wait:
    description: Wait until the instance reports C(actual_status=running).
    type: bool
    default: true
  wait_timeout:
    description: Most seconds to wait for C(running) before failing.
    type: int
    default: 900
  poll_interval:
    description: Seconds between two status reads while waiting.
    type: float
    default: 10
notes:
  - The Vast API has no idempotency token; the label is looked up before renting, so two concurrent runs with
    the same label can both rent. Run provisioning from one place.
  - Instances that fail to start are left in place (they cost money); destroy them with O(state=absent).
seealso:
  - name: Vast API, creating instances
    description: The offer search and instance creation requests this module sends.
    link: https://docs.vast.ai/api-reference/creating-instances-with-api
  - plugin: llmaas.platform.vast
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Rent one 2x RTX 4090 VM for the k3s server
  llmaas.platform.vast_instance:
    label: llmaas-vast-0
    gpu_name: [RTX 4090]
    num_gpus: 2
    max_price_per_hour: 1.2
    min_reliability: 0.98
    disk: 120
    vm: true
    image: "{{ vast_vm_image }}"  # a Vast VM image that carries the NVIDIA driver
    env:
      "-p 6443:6443": "1"
    wait_timeout: 1200

- name: Preview which offer would be rented (nothing is created)
  llmaas.platform.vast_instance:
    label: llmaas-vast-1
    gpu_name: [L40S]
    image: ubuntu:22.04
  check_mode: true
  register: preview

- name: Destroy it again
  llmaas.platform.vast_instance:
    label: llmaas-vast-0
    state: absent
"""

RETURN = r"""
instance:
  description: The instance with O(label) after the run (empty after O(state=absent) or a check-mode create).
  returned: always
  type: dict
  sample:
    id: 7835610
    label: llmaas-vast-0
    actual_status: running
    gpu_name: RTX 4090
    num_gpus: 2
    gpu_ram: 24564
    cuda_max_good: 12.8
    ssh_host: ssh5.vast.ai
    ssh_port: 35610
    public_ipaddr: 203.0.113.7
    ports: {"22/tcp": 41022, "6443/tcp": 41023}
    dph_total: 0.82
offer:
  description: The offer the instance was (or in check mode would be) created from.
  returned: when an instance is created or would be created
  type: dict
  sample: {id: 12345678, gpu_name: RTX 4090, num_gpus: 2, dph_total: 0.82, reliability: 0.995}
destroyed:
  description: IDs of the instances destroyed (or that would be destroyed in check mode).
  returned: when O(state=absent)
  type: list
  elements: int
  sample: [7835610]
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmaas.platform.plugins.module_utils.vast import (
    VastClient,
    VastError,
    build_offer_query,
    describe_filters,
    generate_argspec,
    summarize_instance,
)

OFFER_FIELDS = ("id", "machine_id", "gpu_name", "num_gpus", "gpu_ram", "dph_total", "reliability",
                "disk_space", "cuda_max_good", "geolocation", "verification")


def _wait_running(module, client, instance_id, label):
    deadline = time.time() + module.params["wait_timeout"]
    instance = client.get_instance(instance_id)
    while True:
        if instance is None:
            module.fail_json(msg="Vast instance %s (label %s) disappeared while waiting for it to run."
                             % (instance_id, label))
        if instance.get("actual_status") == "running":
            return instance
        if time.time() >= deadline:
            module.fail_json(
                msg="Vast instance %s (label %s) is still %r after %ss (intended %r, status message: %r). It may be "
                    "stuck pulling the image or on a bad host; it was left in place and is billed: destroy it with "
                    "state=absent and try another offer, or raise wait_timeout."
                    % (instance_id, label, instance.get("actual_status"), module.params["wait_timeout"],
                       instance.get("intended_status"), instance.get("status_msg")),
                instance=summarize_instance(instance))
        time.sleep(module.params["poll_interval"])
        instance = client.get_instance(instance_id)


def ensure_present(module, client):
    p = module.params
    label = p["label"]
    existing = client.instances_by_label(label)
    if existing:
        instance = sorted(existing, key=lambda i: i.get("id") or 0)[0]
        warnings = []
        if len(existing) > 1:
            warnings.append("%d Vast instances carry label %s (ids %s); using the oldest."
                            % (len(existing), label, ", ".join(str(i.get("id")) for i in existing)))
        if p["wait"] and not module.check_mode:
            instance = _wait_running(module, client, instance["id"], label)
        for w in warnings:
            module.warn(w)
        return dict(changed=False, instance=summarize_instance(instance),
                    msg="Vast instance %s with label %s already exists." % (instance.get("id"), label))

    missing = [name for name in ("gpu_name", "image") if not p[name]]
    if missing:
        module.fail_json(msg="No Vast instance with label %s exists and %s must be set to create one."
                         % (label, " and ".join(missing)))

    query = build_offer_query(
        gpu_name=p["gpu_name"], num_gpus=p["num_gpus"], max_dph=p["max_price_per_hour"],
        min_reliability=p["min_reliability"], min_disk=p["disk"], verified=p["verified"], vm=p["vm"],
        min_cuda=p["min_cuda"], extra_filters=p["extra_filters"])
    offers = client.search_offers(query)
    # The API orders by dph_total already; sort again so the choice never depends on server ordering.
    offers = sorted(offers, key=lambda o: (o.get("dph_total") is None, o.get("dph_total"), o.get("id")))
    if not offers:
        module.fail_json(msg="No rentable Vast offer matches the filters: %s. Relax gpu_name, num_gpus, "
                             "max_price_per_hour, min_reliability or disk." % describe_filters(query),
                         query=query)
    offer = offers[0]
    offer_summary = dict((k, offer.get(k)) for k in OFFER_FIELDS)

    if module.check_mode:
        return dict(changed=True, instance={}, offer=offer_summary,
                    msg="Would rent offer %s (%s x%s at %s USD/h) as %s."
                        % (offer.get("id"), offer.get("gpu_name"), offer.get("num_gpus"), offer.get("dph_total"),
                           label))

    payload = {
        "image": p["image"],
        "label": label,
        "disk": p["disk"],
        "runtype": p["runtype"],
        "env": p["env"] or {},
    }
    if p["onstart"]:
        payload["onstart"] = p["onstart"]
    if p["vm"]:
        payload["vm"] = True
    instance_id = client.create_instance(offer["id"], payload)
    instance = client.get_instance(instance_id) or {"id": instance_id, "label": label}
    if instance.get("label") != label:
        # Older API revisions ignored the label on create; set it explicitly so idempotency holds.
        client.set_label(instance_id, label)
    if p["wait"]:
        instance = _wait_running(module, client, instance_id, label)
    return dict(changed=True, instance=summarize_instance(instance), offer=offer_summary,
                msg="Rented offer %s as Vast instance %s with label %s." % (offer.get("id"), instance_id, label))


def ensure_absent(module, client):
    label = module.params["label"]
    existing = client.instances_by_label(label)
    ids = sorted(int(i["id"]) for i in existing)
    if not ids:
        return dict(changed=False, instance={}, destroyed=[], msg="No Vast instance with label %s." % label)
    if module.check_mode:
        return dict(changed=True, instance={}, destroyed=ids,
                    msg="Would destroy Vast instance(s) %s with label %s." % (ids, label))
    destroyed = [i for i in ids if client.destroy_instance(i)]
    return dict(changed=bool(destroyed), instance={}, destroyed=destroyed,
                msg="Destroyed Vast instance(s) %s with label %s." % (destroyed, label))


def main():
    argument_spec = generate_argspec(
        label=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        gpu_name=dict(type="list", elements="str"),
        num_gpus=dict(type="int", default=1),
        max_price_per_hour=dict(type="float", aliases=["max_dph"]),
        min_reliability=dict(type="float", default=0.98),
        disk=dict(type="float", default=50),
        min_cuda=dict(type="float"),
        verified=dict(type="bool", default=True),
        vm=dict(type="bool", default=False),
        extra_filters=dict(type="dict", default={}),
        image=dict(type="str"),
        onstart=dict(type="str"),
        env=dict(type="dict", default={}, no_log=False),
        runtype=dict(type="str", choices=["ssh_direct", "ssh_proxy", "jupyter_direct", "args"],
                     default="ssh_direct"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=900),
        poll_interval=dict(type="float", default=10),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not module.params["label"].strip():
        module.fail_json(msg="label must not be empty: it is how the instance is found again.")
    try:
        client = VastClient.from_params(module.params)
        if module.params["state"] == "present":
            result = ensure_present(module, client)
        else:
            result = ensure_absent(module, client)
    except VastError as e:
        module.fail_json(msg=str(e), status=e.status)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
