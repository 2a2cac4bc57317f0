# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options shared by every llmaas.platform litellm_* module.
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the LiteLLM proxy, for example C(https://gateway.example.com) or C(http://127.0.0.1:4000).
      - When not set, the E(LITELLM_API_URL) environment variable is used. One of the two is required.
    type: str
  master_key:
    description:
      - LiteLLM master key (C(sk-...)), sent as a Bearer token. Only management calls use it; never hand it to
        clients, it bypasses budgets.
      - When not set, the E(LITELLM_MASTER_KEY) environment variable is used. One of the two is required.
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of O(api_url).
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each HTTP answer.
    type: float
    default: 30
  retries:
    description:
      - How many times a request is repeated after a connection error, a timeout or a 5xx answer, with
        exponential backoff. 4xx answers are never repeated.
      - A key creation whose answer timed out is not repeated; the module looks the alias up instead, since
        the proxy may have created the key.
    type: int
    default: 3
  retry_backoff:
    description:
      - Delay in seconds before the first retry; each further retry doubles it (capped at 30 seconds).
    type: float
    default: 1.0
notes:
  - Talks to the LiteLLM management API (C(/key/*), C(/team/*)) with the master key. LiteLLM needs a database
    for these endpoints; without one it answers C(No connected db.) (HTTP 400).
  - Both LiteLLM error shapes (an C(error) object with C(message), C(type), C(param) and C(code), or FastAPI's
    C(detail)) are reported as one message with the HTTP status and the endpoint.
"""
