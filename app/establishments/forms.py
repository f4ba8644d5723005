"""The establishment form: what an operator types, checked field by field."""

from __future__ import annotations

import re

from pydantic import field_validator

from app.i18n import _
from app.jurisdiction import InvalidValue, current_scheme
from app.web import FormModel, max_length, required, single_line

_URL = re.compile(r"^https?://[^\s/$.?#][^\s<>\"]*\.[^\s<>\"]+$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[0-9 ()\-]{6,20}$")


class EstablishmentForm(FormModel):
    ruc: str = ""
    branch_code: str = ""
    legal_name: str = ""
    trade_name: str = ""
    category: str = ""
    region: str = ""
    province: str = ""
    district: str = ""
    address: str = ""
    website: str = ""
    phone: str = ""

    @field_validator("ruc")
    @classmethod
    def _ruc(cls, value: str) -> str:
        required(value, _("Enter the RUC: 11 digits"))
        try:
            return current_scheme().normalize_tax_id(value[:50])
        except InvalidValue as exc:
            raise ValueError(str(exc)) from None

    @field_validator("branch_code")
    @classmethod
    def _branch(cls, value: str) -> str:
        required(value, _("Enter the SUNAT branch code, 4 digits (0000 for the fiscal address)"))
        try:
            return current_scheme().normalize_branch_code(value[:50])
        except InvalidValue as exc:
            raise ValueError(str(exc)) from None

    @field_validator("legal_name")
    @classmethod
    def _legal_name(cls, value: str) -> str:
        required(value, _("Enter the legal name (razón social) as registered with SUNAT"))
        return single_line(max_length(value, 200))

    @field_validator("trade_name")
    @classmethod
    def _trade_name(cls, value: str) -> str:
        required(value, _("Enter the trade name the public knows the establishment by"))
        return single_line(max_length(value, 200))

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        if current_scheme().category(value) is None:
            raise ValueError(_("Choose the establishment's category"))
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if current_scheme().region(value) is None:
            raise ValueError(_("Choose the region"))
        return value

    @field_validator("province")
    @classmethod
    def _province(cls, value: str) -> str:
        required(value, _("Enter the province"))
        return single_line(max_length(value, 100))

    @field_validator("district")
    @classmethod
    def _district(cls, value: str) -> str:
        required(value, _("Enter the district"))
        return single_line(max_length(value, 100))

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        required(value, _("Enter the address"))
        return single_line(max_length(value, 300))

    @field_validator("website")
    @classmethod
    def _website(cls, value: str) -> str:
        if not value:
            return value
        max_length(value, 200)
        if not value.lower().startswith(("http://", "https://")):
            value = "https://" + value
        if not _URL.match(value):
            raise ValueError(_("Enter the web site address, like https://www.example.pe"))
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not value:
            return value
        max_length(value, 30)
        if not _PHONE.match(value) or sum(c.isdigit() for c in value) < 6:
            raise ValueError(_("Enter the business phone with digits only, like +51 84 123456"))
        return value
