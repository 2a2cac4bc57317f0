# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter security_network_policies: the security layer's NetworkPolicies (plugins/plugin_utils/network_policies.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.llmaas.platform.plugins.plugin_utils.network_policies import security_network_policies


class FilterModule(object):
    def filters(self):
        return {"security_network_policies": security_network_policies}
