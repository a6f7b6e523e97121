"""Errors the services raise. Every interface maps them the same way (API: status codes)."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal with a message meant for the person or integration that asked."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def as_dict(self) -> dict:
        body: dict = {"detail": self.message, "code": self.code}
        if self.field:
            body["errors"] = {self.field: [self.message]}
        return body


class InvalidInput(ServiceError):
    status_code = 400
    code = "invalid"


class NotFound(ServiceError):
    """Missing and forbidden look the same from outside."""

    status_code = 404
    code = "not_found"


class Forbidden(ServiceError):
    """You can see it, but you may not do this."""

    status_code = 403
    code = "forbidden"


class Conflict(ServiceError):
    """The object is no longer in a state where this is possible."""

    status_code = 409
    code = "conflict"
