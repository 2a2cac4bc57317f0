# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of the Vast API client (plugins/module_utils/vast.py), shared by the vast_instance module
    # and the vast inventory plugin (which adds the env entries its config system reads).
    DOCUMENTATION = r"""
options:
  api_key:
    description:
      - Vast.ai API key, sent as a Bearer token.
      - If not set, the E(VAST_API_KEY) environment variable is used. In an inventory source, prefer the
        environment variable to writing the key in the file.
      - A rejected key (HTTP 401/403) fails with C(Vast API key rejected).
    type: str
  api_url:
    description:
      - Base URL of the Vast API (without C(/api/v0)).
      - If not set, the E(VAST_API_URL) environment variable is used, then U(https://console.vast.ai).
    type: str
  timeout:
    description: Seconds to wait for one HTTP answer.
    type: int
    default: 30
  validate_certs:
    description: Verify the TLS certificate of O(api_url).
    type: bool
    default: true
  retries:
    description:
      - How many times a request is retried on connection errors, HTTP 429 and HTTP 5xx, with exponential
        backoff (1, 2, 4... seconds), or after the delay the API asks for in C(Retry-After) (seconds or an
        HTTP date, at most 60 seconds). Other errors are never retried. All retries of one task or inventory
        run share a budget of 120 seconds of waiting.
    type: int
    default: 3
"""
