"""API plumbing shared by every endpoint: a strict JSON parser, pagination, throttling, the
documented error responses and one error shape (base views: cwa_site.api_views).

Every error body is `{"detail": "<message>", "code": "<code>", "errors": {<field>: [..]}}`
(`errors` only for field errors), whatever raised it: a service refusal, DRF validation, auth,
throttling, a malformed body or a 404 (also for URLs under /api/ that match nothing).
"""

from __future__ import annotations

import codecs
import json
import re
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from cwa_site.errors import ServiceError


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


# --------------------------------------------------------------------------- input


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


MAX_JSON_DEPTH = 64
# Text the database cannot store: NUL (PostgreSQL rejects it in text and jsonb) and lone UTF-16
# surrogates (not encodable as UTF-8). Refused at the door so no field can smuggle them in.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_storable(data: Any) -> None:
    """Walk the parsed document without recursion: depth limit, and only storable text."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise exceptions.ParseError(
                    "JSON strings may not contain NUL characters or lone surrogates."
                )
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise exceptions.ParseError(
                    f"The JSON document is nested deeper than {MAX_JSON_DEPTH} levels."
                )
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if key is not None:
                    stack.append((key, depth))
                stack.append((item, depth + 1))


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON (databases cannot store it either).")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, made safe for any input.

    The body is bounded by DATA_UPLOAD_MAX_MEMORY_SIZE (Django checks it when DRF reads
    `request.body`; the handler turns that into a 413) and here too, for deployments that set
    it to None. Deep nesting (RecursionError), NaN/Infinity, NUL characters and lone surrogates
    all become a 400 instead of an error deeper down (payload hashing, PostgreSQL).
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:
            return {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit // 1024} KiB.")
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.decode(raw, encoding)
            data = json.loads(text, parse_constant=_refuse_constant)
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(f"The request body is not valid {encoding} text.")
        except RecursionError:
            raise exceptions.ParseError(
                f"The JSON document is nested deeper than {MAX_JSON_DEPTH} levels."
            )
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}")
        _check_storable(data)
        return data


class _UTCIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise DjangoValidationError("Date-time out of range.", code="overflow")


class IsoDateTimeFilter(filters.IsoDateTimeFilter):
    """django-filter's ISO 8601 filter, normalized to UTC before it reaches the database.

    Any offset Python accepts (up to ±23:59) is valid ISO 8601, but PostgreSQL refuses offsets
    beyond ±15:59 and SQLite's adapter overflows on year 1 at +14:00; in UTC both are fine, and a
    date-time that has no UTC equivalent is a 400.
    """

    field_class = _UTCIsoDateTimeField


# --------------------------------------------------------------------------- throttling


class ScopedThrottle(ScopedRateThrottle):
    """Per-user rate for a view's `throttle_scope`, applied to writes only.

    The rate is read from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] on every request (DRF binds
    it at import), so an environment variable or a test's settings override takes effect.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)

    def get_rate(self) -> str | None:
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise exceptions.ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r}.")


# --------------------------------------------------------------------------- errors


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    detail = serializers.CharField(help_text="A message meant for a person.")
    code = serializers.CharField(help_text="A stable machine-readable code.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field errors by field name (`payload.note` for nested fields).",
    )


ERROR_DESCRIPTIONS = {
    400: "Invalid input; `errors` names each field that is wrong.",
    401: "No or invalid credentials (send `Authorization: Token <key>`).",
    403: "You can see this object but may not do this (or a session request without CSRF).",
    404: "No such object, or not one you may see (both look the same).",
    409: "The object is no longer in a state where this is possible.",
    413: "The request body is too large.",
    415: "The request body is not `application/json`.",
    429: "Too many requests; `Retry-After` says when to try again.",
}

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds until the next request is allowed.",
)


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Document the error statuses an operation can answer, all with the shared shape."""
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in codes
    }


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    out[f"{key}.{sub}"] = messages
            elif isinstance(value, list):
                out[str(key)] = [
                    str(v) if not isinstance(v, dict) else str(_flatten(v)) for v in value
                ]
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        exc = RequestTooLarge(f"The request body is larger than {limit // 1024} KiB.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        first_field, first = next(iter(errors.items()), ("", ["Invalid input."]))
        message = first[0] if first_field == "non_field_errors" else f"{first_field}: {first[0]}"
        response.data = {"detail": message, "code": "invalid", "errors": errors}
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    detail = getattr(exc, "detail", None)
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    response.data = {
        "detail": str(detail) if detail is not None else str(exc),
        "code": code if isinstance(code, str) else "error",
    }
    return response


@csrf_exempt  # a 404 has nothing to protect; without this a POST would get an HTML 403 first
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Anything under /api/ that matches no endpoint (including malformed ids) is a JSON 404."""
    return JsonResponse({"detail": "No such endpoint or object.", "code": "not_found"}, status=404)
