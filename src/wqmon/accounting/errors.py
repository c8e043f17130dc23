"""Errors of the accounting cycle, each with the HTTP status the API answers."""

from __future__ import annotations


class AccountingError(ValueError):
    """A request the cycle refuses; `status` is the HTTP status it maps to."""

    status = 400


class NotFoundError(AccountingError):
    status = 404


class ConflictError(AccountingError):
    """The account or report is not in a state that allows the step."""

    status = 409


class ForbiddenError(AccountingError):
    """The actor's role or regions do not allow the step."""

    status = 403


class UnavailableError(AccountingError):
    """Something the step needs is not installed or not running here."""

    status = 503
