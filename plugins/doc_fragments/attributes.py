# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes every llmaas.platform module documents; each module states its own support.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
"""

    # Action groups (meta/runtime.yml): one module_defaults entry sets the connection of every module in it.
    LITELLM_GROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/llmaas.platform.litellm) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - llmaas.platform.litellm
"""

    VAST_GROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/llmaas.platform.vast) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - llmaas.platform.vast
"""
