"""The signing form: the legal representative, their identity document and the acceptance."""

from __future__ import annotations

from pydantic import ValidationInfo, field_validator

from app.i18n import _
from app.jurisdiction import InvalidValue, current_scheme
from app.web import FormModel, max_length, required, single_line


class SignatureForm(FormModel):
    representative_name: str = ""
    document_type: str = ""
    document_number: str = ""
    accept: str = ""

    @field_validator("representative_name")
    @classmethod
    def _name(cls, value: str) -> str:
        required(value, _("Enter the full name of the legal representative"))
        return single_line(max_length(value, 200))

    @field_validator("document_type")
    @classmethod
    def _document_type(cls, value: str) -> str:
        if current_scheme().document_type(value) is None:
            raise ValueError(_("Choose the type of identity document"))
        return value

    @field_validator("document_number")
    @classmethod
    def _document_number(cls, value: str, info: ValidationInfo) -> str:
        required(value, _("Enter the identity document number"))
        max_length(value, 30)
        document_type = info.data.get("document_type")
        if not document_type:
            return value  # the type's own message says what to fix first
        try:
            return current_scheme().normalize_document(document_type, value)
        except InvalidValue as exc:
            raise ValueError(str(exc)) from None

    @field_validator("accept")
    @classmethod
    def _accept(cls, value: str) -> str:
        if value != "yes":
            raise ValueError(
                _(
                    "To sign, confirm that you accept the Code of Conduct on behalf of the establishment"
                )
            )
        return value
