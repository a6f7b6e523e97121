"""Rendering a policy's payload template for a work item: deterministic, and sandboxed.

String values in the template are Django templates rendered against the item's facts (the same
values conditions see) with a standalone engine: no autoescaping (payloads are not HTML), no
template loaders (so no include/extends of files) and only the built-in tags and filters.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from django.template import Context, Engine, Template, TemplateSyntaxError

MAX_TEMPLATE_BYTES = 64 * 1024

_ENGINE = Engine(autoescape=False, debug=False, string_if_invalid="", dirs=[], app_dirs=False)


class TemplateError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@lru_cache(maxsize=4096)
def _compiled(source: str) -> Template:
    return _ENGINE.from_string(source)


def payload_template_errors(template: Any) -> list[str]:
    """Why a payload template cannot be used ([] when it can)."""
    if not isinstance(template, dict):
        return ["The payload template must be a JSON object."]
    if len(json.dumps(template)) > MAX_TEMPLATE_BYTES:
        return [f"The payload template is larger than {MAX_TEMPLATE_BYTES // 1024} KiB."]
    errors = []
    for path, source in _strings(template, ""):
        try:
            _compiled(source)
        except TemplateSyntaxError as exc:
            errors.append(f"{path or 'template'}: {exc}")
    return errors


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [
            pair
            for key, inner in value.items()
            for pair in _strings(inner, f"{path}.{key}".lstrip("."))
        ]
    if isinstance(value, list):
        return [pair for i, inner in enumerate(value) for pair in _strings(inner, f"{path}[{i}]")]
    return []


def render_payload(template: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """The payload for one item. TemplateError if the template no longer compiles."""
    ctx = Context(context, autoescape=False)

    def render(value: Any) -> Any:
        if isinstance(value, str):
            if "{" not in value:
                return value
            try:
                return _compiled(value).render(ctx).strip()
            except (TemplateSyntaxError, ValueError, TypeError, ArithmeticError) as exc:
                raise TemplateError(f"{type(exc).__name__}: {exc}")
        if isinstance(value, dict):
            return {key: render(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [render(inner) for inner in value]
        return value

    return render(template)


def get_path(payload: Any, path: str) -> Any:
    """`payload["body"]["text"]` for `body.text`; None when any step is missing."""
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def set_path(payload: dict[str, Any], path: str, text: str) -> dict[str, Any]:
    """A copy of the payload with the field at `path` set (intermediate objects created)."""
    out = json.loads(json.dumps(payload))
    target = out
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[parts[-1]] = text
    return out
