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
      - How many times a request is repeated after a connection error, a timeout, a 429 or a 5xx answer,
        with exponential backoff, within O(retry_budget). Other answers are never repeated.
      - A key creation or rotation whose answer was lost is not repeated blindly; the module looks the alias
        up and recognises its own value by LiteLLM's token (sha256 of the value).
    type: int
    default: 3
  retry_backoff:
    description:
      - Delay in seconds before the first retry; each further retry doubles it (capped at 30 seconds). A
        C(Retry-After) header sent with a 429 or 503 answer is honoured instead.
    type: float
    default: 1.0
  retry_budget:
    description:
      - Seconds of waiting between retries allowed for the whole task, shared by all its requests. Once spent,
        a failing request is not retried, so a gateway that is down fails the task after a bounded time
        instead of a full backoff for each remaining key.
    type: float
    default: 60
notes:
  - Talks to the LiteLLM management API (C(/key/*), C(/team/*)) with the master key. LiteLLM needs a database
    for these endpoints; without one it answers C(No connected db.) (HTTP 400).
  - Both LiteLLM error shapes (an C(error) object with C(message), C(type), C(param) and C(code), or FastAPI's
    C(detail)) are reported as one message with the HTTP status and the endpoint.
"""

    # Options of a team and of a virtual key alike (module_utils/litellm.py spend_options()).
    SPEND = r"""
options:
  state:
    description: V(present) creates or updates, V(absent) deletes.
    type: str
    choices: [present, absent]
    default: present
  models:
    description:
      - Model names it may call. An empty list means all models the proxy serves. Compared as a set.
    type: list
    elements: str
  max_budget:
    description:
      - Maximum spend in USD. Must be >= 0. Budgets only bind for models with a cost per token.
    type: float
  budget_duration:
    description:
      - Period after which the spend resets, in LiteLLM's format, a positive number followed by C(s), C(m),
        C(h), C(d), C(w) or C(mo) (V(30s), V(30m), V(24h), V(30d), V(1mo)), or V(hourly), V(daily), V(weekly),
        V(monthly).
    type: str
  tpm_limit:
    description: Tokens per minute limit, >= 0.
    type: int
  rpm_limit:
    description: Requests per minute limit, >= 0.
    type: int
  max_parallel_requests:
    description:
      - Maximum concurrent requests, >= 0. Keys only; LiteLLM 1.108 drops it silently on teams, so
        M(llmaas.platform.litellm_team) refuses it.
    type: int
"""

    # Delivery and rotation of key values (module_utils/litellm.py delivery_options(), _key_delivery.py).
    DELIVERY = r"""
options:
  delivery:
    description:
      - Where each key value goes. The module writes it there itself, before its next API call, and never
        returns it. The value is first written as C(pending), then LiteLLM is asked to create (or rotate to)
        a key with that value, then the value is promoted; an interruption at any point is completed by the
        next run.
      - Required when a key is to be present.
    type: dict
    suboptions:
      mode:
        description:
          - V(file) writes C(<path>/<key_alias>/key) (folder 0700, file 0600; temp file, fsync, rename).
          - V(secret) writes the Kubernetes Secret C(<secret_prefix><key_alias>) in O(delivery.namespace) with
            C(LITELLM_API_KEY) (and C(OPENAI_API_BASE) when O(delivery.api_base) is set); needs the
            C(kubernetes) Python package.
        type: str
        choices: [file, secret]
        default: file
      path:
        description: Folder holding one sub-folder per key alias (mode V(file)).
        type: path
      namespace:
        description: Namespace of the Secrets (mode V(secret)).
        type: str
      secret_prefix:
        description: Prefix of the Secret names (mode V(secret)).
        type: str
        default: litellm-key-
      api_base:
        description: Value of C(OPENAI_API_BASE) in each Secret, the URL clients use (mode V(secret)).
        type: str
      kubeconfig:
        description: Kubeconfig file (mode V(secret)); default the usual kubeconfig or the in-cluster account.
        type: path
      context:
        description: Kubeconfig context (mode V(secret)).
        type: str
  missing_value:
    description:
      - What to do with a key that exists on the gateway while its value is at no destination (deleted file,
        lost Secret). LiteLLM shows a value only when it issues it, so it cannot be delivered again.
      - V(fail) leaves the key alone, converges every other key, then fails naming the aliases.
      - V(regenerate) issues a new value (the old one stops working, after O(grace_period) where supported)
        and delivers it.
    type: str
    choices: [fail, regenerate]
    default: fail
  rotate_after:
    description:
      - Rotate keys whose value is older than this duration (V(90d), V(12w), ...), measured from when the
        module issued the current value (kept in the key's metadata as C(rotated-at)). Rotating once resets the
        age, so a re-run does not rotate again.
    type: str
  rotation_method:
    description:
      - How a key gets a new value. V(regenerate) uses C(/key/{key}/regenerate), which keeps the key's spend
        and id and honours O(grace_period); LiteLLM 1.108 reserves it to Enterprise licences.
      - V(recreate) deletes the key and creates it again with the same settings (spend restarts, no grace).
      - V(auto) tries regenerate and falls back to recreate for the rest of the run when the proxy refuses it.
    type: str
    choices: [auto, regenerate, recreate]
    default: auto
  grace_period:
    description:
      - How long the old value keeps working after a regenerate (V(24h), V(2d)); LiteLLM's C(grace_period).
        Without it the old value stops at once. Not available with V(recreate).
    type: str
"""
