"""Errors a service raises when a rule says no; views show the message to the person."""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the change. `field` names the form field the message belongs beside."""

    def __init__(self, message: str, field: str = "form") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(Exception):
    """The thing does not exist, or the person may not see it (both answer 404)."""
