"""The JSON shapes of the API (documented in /openapi.json)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ReportState = Literal[
    "not_started", "draft", "submitted", "changes_requested", "resubmitted", "approved", "rejected"
]
SectionStatus = Literal["done", "partly", "not_done"]


class Page(BaseModel):
    total: int = Field(description="How many items match, on every page.")
    page: int
    pages: int


# --- public ----------------------------------------------------------------------------------------


class RegisterItem(BaseModel):
    """A signatory as the public register shows it: business data only."""

    id: int
    ruc: str
    branch_code: str
    trade_name: str
    legal_name: str
    category: str
    region: str
    province: str
    district: str
    signatory_number: str
    signed_on: date
    standing: str = Field(
        description="good_standing, pending_review, overdue, non_compliant, suspended, revoked, withdrawn"
    )
    last_approved_year: int | None
    certificate_valid_until: date | None


class RegisterPage(Page):
    items: list[RegisterItem]


class PublicEstablishment(BaseModel):
    id: int
    ruc: str
    branch_code: str
    trade_name: str
    legal_name: str
    category: str
    region: str
    province: str
    district: str


class Verification(BaseModel):
    """The live status of a certificate of compliance."""

    status: Literal["valid", "expired", "revoked"]
    certificate_number: str
    year: int
    issued_on: date
    valid_until: date
    revoked_on: date | None
    signatory_number: str | None
    establishment: PublicEstablishment


# --- establishments and signatures -----------------------------------------------------------------


class EstablishmentIn(BaseModel):
    """A new establishment (category and region by their codes)."""

    model_config = ConfigDict(extra="forbid")

    ruc: str = Field(description="11 digits with SUNAT's check digit", examples=["20604123452"])
    branch_code: str = Field(description="SUNAT branch code, 4 digits", examples=["0000"])
    legal_name: str
    trade_name: str
    category: str = Field(
        description="lodging, travel_agency, adventure_operator, tour_guide, restaurant, "
        "tourist_transport, events_organizer, other",
        examples=["lodging"],
    )
    region: str = Field(description="ISO 3166-2:PE code", examples=["PE-CUS"])
    province: str
    district: str
    address: str
    website: str | None = None
    phone: str | None = None


class SignatureIn(BaseModel):
    """Signing the Code text in force, as the establishment's legal representative."""

    model_config = ConfigDict(extra="forbid")

    representative_name: str
    document_type: str = Field(description="DNI, CE or PASSPORT", examples=["DNI"])
    document_number: str
    accept: bool = Field(
        description="Must be true: the Code is accepted on behalf of the establishment."
    )


class SignatureOut(BaseModel):
    signatory_number: str
    status: str = Field(description="active, suspended, revoked or withdrawn")
    signed_at: datetime
    code_version: str
    representative_name: str
    document_type: str


class EstablishmentOut(BaseModel):
    id: int
    ruc: str
    branch_code: str
    legal_name: str
    trade_name: str
    category: str
    region: str
    province: str
    district: str
    address: str
    website: str | None
    phone: str | None
    created_at: datetime
    standing: str
    signature: SignatureOut | None


class EstablishmentPage(Page):
    items: list[EstablishmentOut]


# --- periods and reports ---------------------------------------------------------------------------


class PeriodOut(BaseModel):
    year: int
    opens_on: date
    deadline: date
    grace_days: int
    cutoff_on: date
    state: Literal["upcoming", "open", "late", "closed"]


class SectionAnswers(BaseModel):
    """The answers of one section (one commitment of the Code)."""

    status: SectionStatus | None = None
    narrative: str | None = None
    figures: dict[str, Any] = Field(
        default_factory=dict,
        description="By figure key: true/false, numbers, ISO dates, text, or a list of rows (objects).",
    )


class EvidenceOut(BaseModel):
    id: int
    section: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime


class SubmissionOut(BaseModel):
    number: int
    submitted_at: datetime
    late: bool
    content_sha256: str


class DecisionForOperator(BaseModel):
    decision: Literal["approve", "request_changes", "reject"]
    decided_at: datetime
    comment: str
    section_comments: dict[str, str]
    reason: str | None


class ReportOut(BaseModel):
    establishment_id: int
    year: int
    version: int = Field(
        description="Send it back with a PUT (optimistic locking); 0 when not started."
    )
    state: ReportState
    sections: dict[str, SectionAnswers]
    problems: dict[str, list[str]] = Field(description="What to fix before filing, by section.")
    evidence: list[EvidenceOut]
    submissions: list[SubmissionOut]
    decision: DecisionForOperator | None


class ReportIn(BaseModel):
    """New answers for some or all sections, with the version read (a stale one answers 409)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, le=2**31 - 1)
    sections: dict[str, SectionAnswers]


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="The version read; the current one when left out.",
    )


class SubmitOut(BaseModel):
    establishment_id: int
    year: int
    state: ReportState
    version: int
    submission: SubmissionOut


# --- staff -----------------------------------------------------------------------------------------


class ReviewItemOut(BaseModel):
    report_id: int
    establishment_id: int
    trade_name: str
    ruc: str
    branch_code: str
    region: str
    category: str
    year: int
    state: ReportState
    submission_number: int
    submitted_at: datetime
    late: bool
    assigned_to_id: int | None


class ReviewPage(Page):
    items: list[ReviewItemOut]
    counts: dict[str, int] = Field(description="Reports in each state, for the same filters.")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "request_changes", "reject"]
    comment: str = ""
    section_comments: dict[str, str] = Field(default_factory=dict)
    reason: str = Field(
        default="",
        description="For a rejection: not_fulfilled, false_information, no_evidence, changes_not_made, other",
    )
    submission: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The submission number reviewed; the latest when left out.",
    )


class CertificateOut(BaseModel):
    number: str
    issued_on: date
    valid_until: date
    verification_code: str


class DecisionOut(BaseModel):
    report_id: int
    decision: Literal["approve", "request_changes", "reject"]
    state: ReportState
    submission_number: int
    decided_at: datetime
    certificate: CertificateOut | None


class NoncomplianceItem(BaseModel):
    establishment_id: int
    trade_name: str
    legal_name: str
    ruc: str
    branch_code: str
    region: str
    category: str
    reason: Literal["no_report", "changes_not_answered", "rejected"]
    signature_status: str
    days_overdue: int


class NoncomplianceList(BaseModel):
    """Every establishment that had to file and has no approved report, once the grace period ended."""

    year: int
    total: int
    items: list[NoncomplianceItem]
