"""LiteLLM proxy callback of llmaas.platform: a 503 from the model path reaches the tenant with Retry-After.

At zero replicas the endpoint picker holds a request in its flow-control queue and, when the queue TTL passes, answers
503 without Retry-After (GIE v1.5.0). LiteLLM 1.108 passes an upstream Retry-After on only as
`llm_provider-retry-after`, so an IDE client cannot tell "starting, come back" from "broken". This hook answers such a
503 with `Retry-After`: the upstream value when there is one, else LLMAAS_RETRY_AFTER_SECONDS. LiteLLM loads it from
the directory of config.yaml (litellm_settings.callbacks: llmaas_retry_after.retry_after) and uses the HTTPException
it returns as the client's error (proxy/utils.py post_call_failure_hook, common_request_processing.py
handle_llm_api_exception).
"""

import os

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

UNAVAILABLE = 503


def _upstream_retry_after(exc):
    for headers in (getattr(exc, "litellm_response_headers", None), getattr(exc, "headers", None)):
        for name, value in dict(headers or {}).items():
            if name.lower() == "retry-after" and str(value).strip():
                return str(value).strip()
    return None


class RetryAfterOnUnavailable(CustomLogger):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = int(seconds)

    async def async_post_call_failure_hook(self, request_data, original_exception, user_api_key_dict,
                                           traceback_str=None):
        if getattr(original_exception, "status_code", None) != UNAVAILABLE:
            return None
        retry_after = _upstream_retry_after(original_exception) or str(self.seconds)
        return HTTPException(
            status_code=UNAVAILABLE, headers={"Retry-After": retry_after},
            detail=f"The model is not available yet (it may be starting); retry after {retry_after} s.")


retry_after = RetryAfterOnUnavailable(os.environ.get("LLMAAS_RETRY_AFTER_SECONDS", "30"))
