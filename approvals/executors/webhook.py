from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from approvals.executors.base import ExecutionRequest, Executor, PermanentError
from approvals.executors.http import classify_response, endpoint_problem, send

MAX_BODY_BYTES = 256 * 1024


def url_problem(url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return "A webhook needs a `url` (in the payload or the action type's config)."
    if endpoint_problem(url, "The webhook URL"):
        return "The webhook URL must be https:// with a host name."
    return None


class WebhookExecutor(Executor):
    """POSTs the payload's `body` as JSON to an HTTPS URL with an `Idempotency-Key` header.

    The receiver should de-duplicate on that header; mark the action type idempotent only when it
    does, so that a crashed attempt may be retried with the same key.
    """

    key = "webhook.post"

    def _url(self, payload: dict[str, Any], config: dict[str, Any]) -> Any:
        return payload.get("url") or config.get("url")

    def validate_payload(self, payload: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
        errors = {}
        if problem := url_problem(self._url(payload, config)):
            errors["payload.url"] = problem
        body = payload.get("body", {})
        if not isinstance(body, dict | list):
            errors["payload.body"] = "`body` must be a JSON object or array."
        elif len(json.dumps(body)) > MAX_BODY_BYTES:
            errors["payload.body"] = f"`body` is larger than {MAX_BODY_BYTES // 1024} KiB."
        return errors

    def describe(self, payload: dict[str, Any], config: dict[str, Any]) -> str:
        return f"POST to {self._url(payload, config)}"

    def execute(self, request: ExecutionRequest) -> dict[str, Any]:
        url = self._url(request.payload, request.config)
        if problem := url_problem(url):
            raise PermanentError(problem, reached=False)
        response = send(
            "POST",
            url,
            what=f"webhook {urlsplit(url).hostname}",
            timeout=request.timeout,
            json=request.payload.get("body", {}),
            headers={
                "Idempotency-Key": request.idempotency_key,
                "X-CWA-Action-Id": request.action_id,
            },
        )
        classify_response(response, f"webhook {urlsplit(url).hostname}")
        return {"status": response.status_code, "body": response.text[:2000]}
