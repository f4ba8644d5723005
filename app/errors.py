"""Errors a service raises when a rule says no; views show the message to the person."""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the change. `field` names the form field the message belongs beside.

    `code` is a stable, machine-readable name of the refusal (the JSON API sends it).
    """

    code: str = "refused"

    def __init__(self, message: str, field: str = "form", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class Conflict(DomainError):
    """Refused because of the current state of the data (a duplicate, a stale version, a decision
    already taken), not because of what was typed: the API answers 409."""

    code = "conflict"


class TooLarge(DomainError):
    """Refused because it is too big (an upload over a limit): the API answers 413."""

    code = "too_large"


class NotFound(Exception):
    """The thing does not exist, or the person may not see it (both answer 404)."""
