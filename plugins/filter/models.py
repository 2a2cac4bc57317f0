# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that derive names from llmaas_models, so every layer agrees on them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def gateway_models(models):
    """One gateway route per model and tier: public name '<model name>-<tier>' (e.g. qwen-coder-fim)."""
    routes = []
    for model in models or []:
        for tier in model.get("tiers") or []:
            routes.append({
                "public_name": f"{model['name']}-{tier}",
                "model": model["name"],
                "served_name": model.get("served_name") or model["name"],
                "tier": tier,
            })
    return routes


class FilterModule:
    def filters(self):
        return {"gateway_models": gateway_models}
