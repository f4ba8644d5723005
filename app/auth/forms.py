"""Account forms."""

from __future__ import annotations

from typing import ClassVar

from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationInfo, field_validator

from app.auth.passwords import MAX_LENGTH, password_problem
from app.i18n import _
from app.web import FormModel


def _email(value: str) -> str:
    if not value:
        raise ValueError(_("Enter your e-mail address"))
    if len(value) > 254:
        raise ValueError(_("Enter an e-mail address of at most 254 characters"))
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError(
            _("Enter an e-mail address in the right format, like nombre@ejemplo.pe")
        ) from None


class EmailForm(FormModel):
    email: str = ""

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        return _email(value)


class RegisterForm(FormModel):
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password", "password_confirm"})

    email: str = ""
    password: str = ""
    password_confirm: str = ""
    privacy: str = ""

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        return _email(value)

    @field_validator("password")
    @classmethod
    def _check_password(cls, value: str, info: ValidationInfo) -> str:
        problem = password_problem(value, info.data.get("email") or "")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("password_confirm")
    @classmethod
    def _check_confirm(cls, value: str, info: ValidationInfo) -> str:
        if "password" in info.data and value != info.data["password"]:
            raise ValueError(_("The two passwords are not the same: type them again"))
        return value

    @field_validator("privacy")
    @classmethod
    def _check_privacy(cls, value: str) -> str:
        if value != "yes":
            raise ValueError(_("Confirm that you have read how your personal data is used"))
        return value


class LoginForm(FormModel):
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    email: str = ""
    password: str = ""

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        if not value:
            raise ValueError(_("Enter your e-mail address"))
        return value[:254]

    @field_validator("password")
    @classmethod
    def _check_password(cls, value: str) -> str:
        if not value:
            raise ValueError(_("Enter your password"))
        return value[: MAX_LENGTH * 4]


class ResetForm(FormModel):
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password", "password_confirm"})

    password: str = ""
    password_confirm: str = ""

    @field_validator("password")
    @classmethod
    def _check_password(cls, value: str) -> str:
        # The account's e-mail is checked against the password by the service.
        problem = password_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("password_confirm")
    @classmethod
    def _check_confirm(cls, value: str, info: ValidationInfo) -> str:
        if "password" in info.data and value != info.data["password"]:
            raise ValueError(_("The two passwords are not the same: type them again"))
        return value


class ChangePasswordForm(ResetForm):
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {"current_password", "password", "password_confirm"}
    )

    current_password: str = ""

    @field_validator("current_password")
    @classmethod
    def _check_current(cls, value: str) -> str:
        if not value:
            raise ValueError(_("Enter your current password"))
        return value
