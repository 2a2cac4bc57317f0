# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one HTTP retry policy of the collection's API clients (LiteLLM in litellm.py, Vast in vast.py).

- Retried: connection errors, timeouts (unless the caller says the request is not idempotent), HTTP 429 and
  500/502/503/504. Never retried: any other answer.
- Delay: exponential backoff (backoff, 2x backoff, 4x ...; capped), or the server's Retry-After (seconds or an
  HTTP date) when it sends one.
- One budget for the whole run: ``retry_budget`` seconds of waiting shared by every request of one client.
  Once spent, requests are tried once and a failure is final, so a gateway that is down fails a run after
  a bounded time instead of a full backoff per remaining item.

Built on ansible.module_utils.urls only (no extra Python dependency).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import email.utils
import socket
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError

RETRYABLE_STATUS = frozenset([429, 500, 502, 503, 504])
MAX_DELAY = 60.0


class HttpAnswer(object):
    """An HTTP answer of any status (the client decides what is an error)."""

    def __init__(self, status, body, headers, attempts):
        self.status = status
        self.body = body
        self.headers = headers
        self.attempts = attempts


class HttpUnreachable(Exception):
    """No answer at all: connection refused or reset, DNS, TLS, or a timeout."""

    def __init__(self, reason, timed_out, attempts):
        super(HttpUnreachable, self).__init__(reason)
        self.reason = reason
        self.timed_out = timed_out
        self.attempts = attempts


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date, RFC 9110 10.2.3); None if unusable."""
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class RetryPolicy(object):
    """Backoff, Retry-After and the run-wide retry budget, shared by every request of one client."""

    def __init__(self, retries=3, backoff=1.0, budget=60.0, max_delay=30.0, sleep=time.sleep):
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.budget_left = max(0.0, float(budget))
        self.max_delay = max_delay
        self._sleep = sleep
        self.waited = 0.0

    @property
    def exhausted(self):
        return self.budget_left <= 0

    def delay(self, attempt, retry_after=None):
        if retry_after is not None:
            return min(retry_after, MAX_DELAY)
        return min(self.backoff * (2 ** attempt), self.max_delay)

    def wait(self, attempt, retry_after=None):
        """Sleep before retry number attempt+1; False when no retry is left (count or budget)."""
        if attempt >= self.retries or self.exhausted:
            return False
        delay = self.delay(attempt, retry_after)
        if delay > self.budget_left:
            # waiting less than the server asked would only earn another refusal
            self.budget_left = 0.0
            return False
        self.budget_left -= delay
        self.waited += delay
        self._sleep(delay)
        return True


def _urls():
    # Imported on first use: ansible.module_utils.urls pulls in cryptography (~0.1 s), and the Vast inventory plugin,
    # loaded by every ansible-playbook run of this repository, imports this module without sending a request.
    from ansible.module_utils import urls

    return urls


class RetryingHttp(object):
    """Send requests with one RetryPolicy; count every attempt (requests_sent)."""

    def __init__(self, policy, timeout=30.0, validate_certs=True):
        self.policy = policy
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.requests_sent = 0
        self._context = None

    @property
    def ssl_context(self):
        # built once: loading the CA store costs ~50 ms, which open_url would otherwise pay on every request
        if self._context is None:
            self._context = _urls().make_context(validate_certs=self.validate_certs)
        return self._context

    def send(self, method, url, data=None, headers=None, idempotent=True):
        """One request with retries. Returns an HttpAnswer for any HTTP status; raises HttpUnreachable.

        idempotent=False is for requests that must not be sent twice blindly: a timeout, a reset or a 5xx may
        come after the server applied it, so only a refused connection and a 429 are retried here and the
        caller decides the rest (look the result up, then retry with retry_wait()).
        """
        attempt = 0
        while True:
            self.requests_sent += 1
            retry_after = None
            try:
                resp = _urls().Request().open(method, url, data=data, headers=headers or {}, timeout=self.timeout,
                                              validate_certs=self.validate_certs, follow_redirects="safe",
                                              context=self.ssl_context)
                return HttpAnswer(resp.getcode(), resp.read(), resp.headers, attempt + 1)
            except HTTPError as exc:
                try:
                    body = exc.read()
                except Exception:  # pragma: no cover - body unreadable
                    body = b""
                answer = HttpAnswer(exc.code, body, exc.headers, attempt + 1)
                if exc.code not in RETRYABLE_STATUS or (not idempotent and exc.code != 429):
                    return answer
                retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                if not self.policy.wait(attempt, retry_after):
                    return answer
            except (socket.timeout, TimeoutError) as exc:
                self._unreachable(attempt, "no answer within %ss (%s)" % (self.timeout, exc), True, idempotent)
            except URLError as exc:
                timed_out = isinstance(exc.reason, (socket.timeout, TimeoutError))
                refused = isinstance(exc.reason, ConnectionRefusedError)
                self._unreachable(attempt, str(exc.reason), timed_out, idempotent or refused)
            except ConnectionRefusedError as exc:
                self._unreachable(attempt, str(exc), False, True)
            except (ConnectionError, OSError) as exc:
                self._unreachable(attempt, str(exc), False, idempotent)
            attempt += 1

    def retry_wait(self, attempt, retry_after=None):
        """For callers retrying a non-idempotent request themselves, under the same policy and budget."""
        return self.policy.wait(attempt, retry_after)

    def _unreachable(self, attempt, reason, timed_out, may_retry):
        if not may_retry or not self.policy.wait(attempt):
            if may_retry:
                # this request used every retry and still found nobody: the server is down, so the rest of
                # the run does not wait again (one budget for the run, spent at once)
                self.policy.budget_left = 0.0
            raise HttpUnreachable(reason, timed_out, attempt + 1)
