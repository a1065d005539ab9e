"""Typed failures that views turn into HTTP answers (404, 403, 409, 422, 429)."""
from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


class Throttled(ServiceError):
    status = 429


class InvalidRows(Invalid):
    """A spreadsheet with bad rows; ``rows`` is ``[{row, message}]`` numbered as the sheet shows them."""

    def __init__(self, message: str, rows: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.rows = rows
