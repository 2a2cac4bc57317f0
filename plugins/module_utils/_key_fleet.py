# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The key reconcile core shared by litellm_key and litellm_keys: plan, then create / update / rotate / deliver /
delete, with each value delivered (_key_delivery) before the next API call and never returned.

Convergence rules (find-then-create by key_alias; LiteLLM has no unique index on it):
- no key on the gateway: create it with a value written as ``pending`` first (a pending value left by an
  interrupted run is reused, so a lost answer never costs a value);
- one key whose token is sha256(current value): delivered; update fields, rotate when due;
- one key whose token is sha256(pending value): LiteLLM applied the create/rotation but the run stopped before
  promoting the value: promote it (no API call);
- one key whose value is nowhere: ``missing_value=regenerate`` issues a new value (regenerate, or delete +
  create), otherwise the run fails naming the aliases and the option, after converging everything else;
- several keys with one alias: refuse to guess (tokens listed).
The gateway going down (LiteLLMUnavailable, after the client's one retry budget) stops the run at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import datetime, timezone

from ansible_collections.llmaas.platform.plugins.module_utils._key_delivery import (
    DeliveryError,
    key_token,
    new_key_value,
)
from ansible_collections.llmaas.platform.plugins.module_utils.litellm import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    ROTATED_AT_KEY,
    ROTATION_KEY,
    LiteLLMError,
    LiteLLMUnavailable,
    alias_exists_error,
    changed_fields,
    find_keys_by_alias,
    key_create_body,
    key_current_view,
    key_desired,
    key_update_body,
)

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}
_WORD_SECONDS = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000}

DELETE_BATCH = 100


def duration_seconds(text):
    """Seconds in a LiteLLM duration (30s, 24h, 90d, 2w, 1mo, daily ...); None when unparsable."""
    text = str(text).strip().lower()
    if text in _WORD_SECONDS:
        return _WORD_SECONDS[text]
    for unit in ("mo", "s", "m", "h", "d", "w"):
        number = text[:-len(unit)]
        if text.endswith(unit) and number.isdigit() and int(number) > 0:
            return int(number) * _UNIT_SECONDS[unit]
    return None


def utc_now():
    """Naive UTC, as compared with parse_time()."""
    return datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)


def parse_time(value):
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.utcoffset() is not None:
        parsed = (parsed - parsed.utcoffset()).replace(tzinfo=None)
    return parsed


def enterprise_refusal(exc):
    """LiteLLM 1.108 refuses /key/{key}/regenerate without a license with a 500 naming the Enterprise feature
    (key_management_endpoints.regenerate_key_fn raises ValueError 'Regenerating Virtual Keys is an Enterprise
    feature'); older proxies have no such route (404)."""
    text = str(exc.detail)
    return (exc.status == 404 and text == "Not Found") or "Enterprise feature" in text


class KeyFleet(object):
    """Plan and apply a list of key specs against the gateway rows and the delivery store."""

    def __init__(self, module, client, store, missing_value="fail", rotate_after=None, rotation_method="auto",
                 grace_period=None, now=None):
        self.module = module
        self.client = client
        self.store = store
        self.missing_value = missing_value
        self.rotate_after = duration_seconds(rotate_after) if rotate_after else None
        self.rotation_method = rotation_method
        self.grace_period = grace_period
        self.now = now or utc_now()
        self.regenerate_refused = rotation_method == "recreate"

    # ------------------------------------------------------------------ plan (reads only)

    def rotation_reason(self, spec, row, metadata):
        wanted = spec.get("rotation")
        if wanted is not None and wanted != metadata.get(ROTATION_KEY):
            return "on demand (rotation %r)" % wanted
        if self.rotate_after:
            issued = parse_time(metadata.get(ROTATED_AT_KEY)) or parse_time(row.get("created_at"))
            if issued is not None and (self.now - issued).total_seconds() >= self.rotate_after:
                return "older than %s" % self.module.params.get("rotate_after")
        return None

    def plan(self, specs, rows, purge=False, purge_team_id=None):
        by_alias = {}
        for row in rows:
            by_alias.setdefault(row.get("key_alias"), []).append(row)
        ops, problems, declared = [], [], set()
        for spec in specs:
            alias = spec["key_alias"]
            declared.add(alias)
            found = by_alias.get(alias, [])
            if len(found) > 1:
                problems.append("%d keys carry key_alias %r (tokens %s)"
                                % (len(found), alias, ", ".join(r.get("token", "?") for r in found)))
                continue
            ops.append(self._plan_one(spec, found[0] if found else None))
        if purge:
            for alias, found in sorted(by_alias.items(), key=lambda item: str(item[0])):
                if alias in declared:
                    continue
                for row in found:
                    meta = row.get("metadata") or {}
                    if not isinstance(meta, dict) or meta.get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
                        continue
                    if purge_team_id is not None and row.get("team_id") != purge_team_id:
                        continue
                    ops.append(dict(action="delete", alias=alias, row=row, before=key_current_view(row)))
        return ops, problems

    def _plan_one(self, spec, row):
        alias = spec["key_alias"]
        current = key_current_view(row)
        op = dict(alias=alias, spec=spec, row=row)
        if spec["state"] == "absent":
            op.update(action="delete" if row else "none", before=current)
            return op
        desired = key_desired(spec, current)
        op["desired"] = desired
        value = self.store.read(alias)
        pending = self.store.read_pending(alias)
        op["pending"] = pending
        if row is None:
            op.update(action="create", after=dict((k, v) for k, v in desired.items() if v is not None))
            return op
        token = row["token"]
        changes = changed_fields(current, desired)
        op.update(changes=changes, before=dict((k, current.get(k)) for k in changes), after=changes)
        if value is not None and key_token(value) == token:
            op["delivered"] = True
            reason = self.rotation_reason(spec, row, current["metadata"])
            if reason:
                op.update(action="rotate", reason=reason)
            else:
                op["action"] = "update" if changes else "none"
                op["stale_pending"] = pending is not None
        elif pending is not None and key_token(pending) == token:
            op.update(action="deliver", reason="the gateway holds the pending value of an interrupted run")
        elif self.missing_value == "regenerate":
            op.update(action="regenerate", reason="its value is not at %s" % self.store.where(alias))
        else:
            op.update(action="undelivered", reason="its value is not at %s" % self.store.where(alias))
        return op

    # ------------------------------------------------------------------ apply

    def _rotation_metadata(self, spec):
        extra = {ROTATED_AT_KEY: self.now.isoformat() + "Z"}
        if spec.get("rotation") is not None:
            extra[ROTATION_KEY] = spec["rotation"]
        return extra

    def _confirmed(self, alias, value):
        """After a failed or unanswered write: does the gateway hold a key with our value? (one GET)"""
        token = key_token(value)
        return any(r.get("token") == token for r in find_keys_by_alias(self.client, alias))

    def _value_for(self, op):
        """The value to create or rotate to: a pending value LiteLLM does not hold yet, or a new one, staged."""
        pending = op.get("pending")
        row = op.get("row")
        if pending is not None and (row is None or key_token(pending) != row["token"]):
            return pending
        value = new_key_value()
        self.store.stage(op["alias"], value)
        return value

    def _write(self, alias, value, path, body):
        """POST a create or rotation carrying our value; True once the gateway holds it.

        Never re-sent blindly: after a timeout, a reset or a 5xx the alias is looked up (our token proves the
        write was applied), and only then is the same value sent again, within the run's retry budget.
        """
        attempt = 0
        while True:
            try:
                self.client.post(path, body, idempotent=False)
                return True
            except LiteLLMError as exc:
                if enterprise_refusal(exc) or not (isinstance(exc, LiteLLMUnavailable) or alias_exists_error(exc)):
                    raise
                if self._confirmed(alias, value):
                    return True
                if alias_exists_error(exc) or not self.client.retry_wait(attempt):
                    raise
                attempt += 1

    def _create(self, op, value):
        body = key_create_body(op["spec"], op["desired"])
        body["metadata"] = dict(body.get("metadata") or {}, **self._rotation_metadata(op["spec"]))
        body["key"] = value
        self._write(op["alias"], value, "/key/generate", body)
        self.store.commit(op["alias"])

    def _rotate(self, op):
        alias, row, spec = op["alias"], op["row"], op["spec"]
        value = self._value_for(op)
        if not self.regenerate_refused:
            metadata = dict(op["desired"]["metadata"], **self._rotation_metadata(spec))
            guardrails = (op["changes"].get("guardrails") if "guardrails" in op["changes"]
                          else key_current_view(row).get("guardrails"))
            if guardrails is not None:
                metadata["guardrails"] = guardrails
            body = {"new_key": value, "metadata": metadata}
            if self.grace_period:
                body["grace_period"] = self.grace_period
            try:
                self._write(alias, value, "/key/%s/regenerate" % row["token"], body)
            except LiteLLMError as exc:
                if not (enterprise_refusal(exc) and self.rotation_method == "auto"):
                    raise
                self.regenerate_refused = True
            if not self.regenerate_refused:
                self.store.commit(alias)
                self._update(op, key_token(value), skip_metadata=True)
                return
        # delete + create: LiteLLM refuses a second key with the alias, so the old key goes first (no grace)
        self._delete_tokens([row["token"]])
        self._create(dict(op, row=None), value)

    def _update(self, op, token, skip_metadata=False):
        changes = dict(op.get("changes") or {})
        if skip_metadata:
            changes.pop("metadata", None)
        if changes:
            self.client.post("/key/update", key_update_body(token, changes, key_current_view(op["row"])))

    def _delete_tokens(self, tokens):
        for start in range(0, len(tokens), DELETE_BATCH):
            try:
                self.client.post("/key/delete", {"keys": tokens[start:start + DELETE_BATCH]})
            except LiteLLMError as exc:
                if exc.status != 404:  # already gone: absent is what we want
                    raise

    def apply(self, ops):
        """Run the plan; return the result dict (no values). Stops at the first sign the gateway is down."""
        check = self.module.check_mode
        actions, changes, failures, before, after, reasons = {}, {}, {}, {}, {}, {}
        summary = dict(create=0, update=0, rotate=0, regenerate=0, deliver=0, delete=0, none=0, undelivered=0)
        delivered, undelivered, done_writes = [], [], dict(created=0, rotated=0, delivered=0)
        deletes = []
        stopped = stopped_error = None
        attempted = 0
        planned = [op for op in ops if op["action"] not in ("none", "undelivered")]
        for op in ops:
            alias, action = op["alias"], op["action"]
            summary[action] += 1
            actions[alias] = action
            if op.get("reason"):
                reasons[alias] = op["reason"]
            if action == "undelivered":
                undelivered.append(alias)
                continue
            if action == "update":
                changes[alias] = sorted(op["changes"])
            if action != "none":
                before[alias] = op.get("before") or {}
                after[alias] = op.get("after") or {}
            if check:
                continue
            if stopped is not None:
                if action == "none" and op.get("delivered"):
                    delivered.append(alias)
                elif action != "none":
                    failures[alias] = "not attempted: %s" % stopped
                continue
            attempted += action != "none"
            try:
                if action == "none":
                    if op.get("stale_pending"):
                        self.store.discard_pending(alias)
                elif action == "create":
                    self._create(op, self._value_for(op))
                    done_writes["created"] += 1
                elif action in ("rotate", "regenerate"):
                    self._rotate(op)
                    done_writes["rotated"] += 1
                elif action == "deliver":
                    self.store.commit(alias)
                    done_writes["delivered"] += 1
                    self._update(op, op["row"]["token"])
                elif action == "update":
                    self._update(op, op["row"]["token"])
                elif action == "delete":
                    deletes.append((alias, op["row"]["token"]))
                if action != "delete" and op.get("spec", {}).get("state") == "present":
                    delivered.append(alias)
            except LiteLLMUnavailable as exc:
                failures[alias] = str(exc)
                stopped = "the gateway is unavailable"
                stopped_error = exc
            except DeliveryError as exc:
                failures[alias] = str(exc)
                stopped = "key delivery failed"
                stopped_error = exc
            except LiteLLMError as exc:
                failures[alias] = str(exc)
        if deletes and stopped is None and not check:
            try:
                self._delete_tokens([token for _alias, token in deletes])
                for alias, _token in deletes:
                    self.store.remove(alias)
            except (LiteLLMError, DeliveryError) as exc:
                for alias, _token in deletes:
                    failures[alias] = str(exc)
                if isinstance(exc, LiteLLMUnavailable):
                    stopped, stopped_error = "the gateway is unavailable", exc
        summary["requests"] = self.client.requests_sent
        changed = (not check and any(done_writes.values())) or (
            any(a not in ("none", "undelivered") for a in actions.values())
            and (check or len(failures) < len(planned)))
        result = dict(changed=bool(changed), actions=actions, changes=changes, summary=summary,
                      delivered=sorted(delivered) if not check else [], reasons=reasons)
        if self.module._diff:
            result["diff"] = dict(before=before, after=after)
        messages = []
        if stopped is not None:
            messages.append(
                "%s (%s): stopped after %d of %d planned key operations. This run created and delivered %d key(s), "
                "rotated %d and delivered %d pending value(s) to %s; nothing is lost (a value whose answer was "
                "lost stays pending at its destination and is delivered by the next run). Run again to finish"
                % (stopped, stopped_error, attempted, len(planned), done_writes["created"],
                   done_writes["rotated"], done_writes["delivered"], self.store.where("<key_alias>")))
        other = dict((a, m) for a, m in failures.items() if not m.startswith("not attempted"))
        if other and stopped is None:
            messages.append("%d of %d key operations failed: %s" % (
                len(other), len(planned), "; ".join("%s: %s" % item for item in sorted(other.items()))))
        if undelivered:
            messages.append(
                "%d key(s) exist on the gateway but their value is not at their destination, and LiteLLM shows a "
                "value only when it issues it: %s. Nothing was changed for them. To issue new values (the old ones "
                "stop working), run again with missing_value=regenerate"
                % (len(undelivered), ", ".join(sorted(undelivered))))
        if failures:
            result["failed_aliases"] = failures
        if undelivered:
            result["undelivered"] = sorted(undelivered)
        return result, messages
