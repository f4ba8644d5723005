"""The public register: searching the signatories and reading one's public page.

Only business data leaves this module (PRODUCT.md, "Public data"): the entries below are built
field by field, never from a signature or an account, so no representative's name, document or
e-mail can reach a public page by accident.

Searching is an index range on both databases: each word typed, folded like the names (see
app/establishments/names.py), must be the start of one of the words of the trade or legal name
(`register_term`); results come by relevance (the trade name is the text typed, then starts with
it, then merely contains every word), then by folded trade name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlmodel import Session

from app.certificates.models import Certificate
from app.certificates.service import CertificateStatus, current_certificate, status_of
from app.clock import lima_date, today
from app.conduct.models import Signature
from app.errors import NotFound
from app.establishments.models import Establishment, RegisterTerm
from app.establishments.names import HIGH, fold, words
from app.establishments.standing import (
    Standing,
    latest_signature_id,
    latest_signatures,
    standing_from,
    standing_sql,
    standings,
)
from app.reports.models import AnnualReport, ReportingPeriod

PER_PAGE = 20
#: Words of a query beyond these are ignored: six words pin down any establishment's name.
MAX_WORDS = 6
#: What the standing filter offers (an establishment that never signed is not in the register).
LISTED_STANDINGS = tuple(s for s in Standing if s is not Standing.NOT_SIGNED)
_RUC_TYPED = re.compile(r"^[\d\s.\-]+$")


@dataclass(frozen=True)
class RegisterQuery:
    """A search of the register, as its URL says it (every field may be empty)."""

    q: str = ""
    region: str = ""
    province: str = ""
    category: str = ""
    standing: str = ""
    page: int = 1

    @property
    def ruc_prefix(self) -> str | None:
        """The digits typed, when the query is a RUC or its beginning."""
        if not _RUC_TYPED.match(self.q):
            return None
        digits = re.sub(r"\D", "", self.q)
        return digits[:11] or None

    @property
    def words(self) -> list[str]:
        return words(self.q)[:MAX_WORDS]


@dataclass(frozen=True)
class RegisterEntry:
    """What the public may know of a signatory."""

    id: int
    trade_name: str
    legal_name: str
    ruc: str
    branch_code: str
    category: str
    region: str
    province: str
    district: str
    signatory_number: str
    signed_on: date
    standing: Standing


@dataclass(frozen=True)
class RegisterPage:
    entries: list[RegisterEntry]
    total: int
    #: The page shown: the one asked for, brought within 1..pages.
    page: int
    pages: int
    per_page: int

    @property
    def first_number(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last_number(self) -> int:
        return self.first_number + len(self.entries) - 1 if self.entries else 0


def _conditions(
    db_session: Session, query: RegisterQuery
) -> tuple[list[ColumnElement[bool]], bool]:
    """The WHERE of a search, and whether it needs the latest signature joined in."""
    conditions: list[ColumnElement[bool]] = []
    ruc = query.ruc_prefix
    if ruc:
        conditions.append(
            Establishment.ruc == ruc
            if len(ruc) == 11
            else and_(Establishment.ruc >= ruc, Establishment.ruc < ruc + ":")  # type: ignore[arg-type]
        )
    else:
        for word in query.words:
            conditions.append(
                Establishment.id.in_(  # type: ignore[union-attr]
                    select(RegisterTerm.establishment_id).where(
                        RegisterTerm.term >= word,  # type: ignore[arg-type]
                        RegisterTerm.term < word + HIGH,  # type: ignore[arg-type]
                    )
                )
            )
    if query.region:
        conditions.append(Establishment.region == query.region)  # type: ignore[arg-type]
    if query.category:
        conditions.append(Establishment.category == query.category)  # type: ignore[arg-type]
    province = fold(query.province)
    if province:
        conditions.append(Establishment.province_key == province)  # type: ignore[arg-type]
    if query.standing:
        periods = list(db_session.scalars(select(ReportingPeriod)))
        conditions.append(standing_sql(Establishment.id, periods) == query.standing)
        return conditions, True
    conditions.append(exists().where(Signature.establishment_id == Establishment.id))
    return conditions, False


def _relevance(query: RegisterQuery) -> list[ColumnElement[object]]:
    phrase = " ".join(query.words)
    if query.ruc_prefix or not phrase:
        return []
    return [
        case(
            (Establishment.name_key == phrase, 0),  # type: ignore[arg-type]
            (
                and_(Establishment.name_key >= phrase, Establishment.name_key < phrase + HIGH),  # type: ignore[arg-type]
                1,
            ),
            else_=2,
        )
    ]


def search(*, db_session: Session, query: RegisterQuery, per_page: int = PER_PAGE) -> RegisterPage:
    """One page of the signatories matching the query, with how many match in all."""
    conditions, join_signature = _conditions(db_session, query)
    counted = select(func.count()).select_from(Establishment)
    listed = select(Establishment)
    if join_signature:
        on = Signature.id == latest_signature_id(Establishment.id)
        counted = counted.join(Signature, on)  # type: ignore[arg-type]
        listed = listed.join(Signature, on)  # type: ignore[arg-type]
    total = db_session.scalar(counted.where(*conditions)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(query.page, 1), pages)
    rows = (
        db_session.scalars(
            listed.where(*conditions)
            .order_by(*_relevance(query), Establishment.name_key, Establishment.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        ).all()
        if total
        else []
    )
    ids = [e.id for e in rows]
    signatures = latest_signatures(db_session, ids)  # type: ignore[arg-type]
    standing = standings(db_session, ids)  # type: ignore[arg-type]
    entries = [_entry(e, signatures[e.id], standing[e.id]) for e in rows]  # type: ignore[index]
    return RegisterPage(entries, total, page, pages, per_page)


def _entry(establishment: Establishment, signature: Signature, standing: Standing) -> RegisterEntry:
    return RegisterEntry(
        id=establishment.id,  # type: ignore[arg-type]
        trade_name=establishment.trade_name,
        legal_name=establishment.legal_name,
        ruc=establishment.ruc,
        branch_code=establishment.branch_code,
        category=establishment.category,
        region=establishment.region,
        province=establishment.province,
        district=establishment.district,
        signatory_number=signature.signatory_number,
        signed_on=lima_date(signature.signed_at),
        standing=standing,
    )


# --- an establishment's public page ------


@dataclass(frozen=True)
class YearRecord:
    """One reporting period of a signatory: was the report filed, was it approved."""

    year: int
    deadline: date
    filed: bool
    approved: bool
    #: The deadline has not passed yet (nothing is missing).
    open: bool


@dataclass(frozen=True)
class PublicCertificate:
    number: str
    year: int
    status: CertificateStatus
    valid_until: date


@dataclass(frozen=True)
class PublicPage:
    entry: RegisterEntry
    #: The signature is in force (not suspended, revoked or withdrawn): the badge is offered.
    active: bool
    years: list[YearRecord]
    last_approved_year: int | None
    certificate: PublicCertificate | None


def public_page(*, db_session: Session, entry_id: int) -> PublicPage:
    """What anyone may know of one signatory; NotFound for an establishment that never signed."""
    establishment = db_session.get(Establishment, entry_id)
    signature = latest_signatures(db_session, [entry_id]).get(entry_id)
    if establishment is None or signature is None:
        raise NotFound()
    periods = list(db_session.scalars(select(ReportingPeriod)))
    states = {
        r.period_id: r.state
        for r in db_session.scalars(
            select(AnnualReport).where(AnnualReport.establishment_id == entry_id)
        )
    }
    on = today()
    signed_on = lima_date(signature.signed_at)
    years = [
        YearRecord(
            year=p.year,
            deadline=p.deadline,
            filed=states.get(p.id, "draft") != "draft",  # type: ignore[arg-type]
            approved=states.get(p.id) == "approved",  # type: ignore[arg-type]
            open=on <= p.deadline,
        )
        for p in sorted(periods, key=lambda p: p.year, reverse=True)
        if (signed_on <= p.cutoff_on and p.opens_on <= on) or p.id in states
    ]
    approved = [y.year for y in years if y.approved]
    return PublicPage(
        entry=_entry(establishment, signature, standing_from(signature, periods, states, on)),
        active=signature.status == "active",
        years=years,
        last_approved_year=max(approved) if approved else None,
        certificate=_certificate(db_session, entry_id, signature),
    )


def _certificate(
    db_session: Session, entry_id: int, signature: Signature
) -> PublicCertificate | None:
    certificate: Certificate | None = current_certificate(
        db_session=db_session, establishment_id=entry_id
    )
    if certificate is None:
        return None
    period = db_session.get(ReportingPeriod, certificate.period_id)
    return PublicCertificate(
        number=certificate.number,
        year=period.year if period else certificate.issued_on.year,
        status=status_of(certificate, signature).status,
        valid_until=certificate.valid_until,
    )
