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
from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, exists, func, or_, select
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
    latest_signature_join,
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

    @property
    def is_empty(self) -> bool:
        """Nothing to search by: a name, RUC or filter is needed (the whole register, 100,000
        names in pages of 20, helps nobody; the open data has it all)."""
        return not (
            self.words or self.ruc_prefix or self.region or self.category or self.standing
        ) and not fold(self.province)


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


def _filters(query: RegisterQuery) -> list[ColumnElement[bool]]:
    """Region, province and category, on the establishment."""
    conditions: list[ColumnElement[bool]] = []
    if query.region:
        conditions.append(Establishment.region == query.region)  # type: ignore[arg-type]
    if query.category:
        conditions.append(Establishment.category == query.category)  # type: ignore[arg-type]
    province = fold(query.province)
    if province:
        conditions.append(Establishment.province_key == province)  # type: ignore[arg-type]
    return conditions


def _term_matches(word: str, term: Any = RegisterTerm) -> ColumnElement[bool]:
    """The term starts with `word`: an index range, the same on both databases (no LIKE)."""
    return and_(term.term >= word, term.term < word + HIGH)


def _prefix_relevance(name_key: Any, phrase: str) -> ColumnElement[int]:
    """0: the trade name is the text typed; 1: it starts with it; 2: it merely has every word."""
    return case(
        (name_key == phrase, 0),
        (and_(name_key >= phrase, name_key < phrase + HIGH), 1),
        else_=2,
    )


def _independent(found: list[str]) -> list[str]:
    """The words typed, less those that begin another one ("ho hos": a term matching "hos"
    matches "ho" too), so that no term can match two of them."""
    return [w for w in found if not any(o != w and o.startswith(w) for o in found)]


def _by_words(
    db_session: Session, query: RegisterQuery, per_page: int
) -> tuple[int, int, list[int]]:
    """A search by name: matched, counted and ordered from the search index alone.

    One pass over the index ranges of all the words (index only, no table rows), grouped by
    establishment; with several words, the establishments where each word matched a term. The
    filters then look up only those establishments.
    """
    found = _independent(query.words)
    grouped = (
        select(
            RegisterTerm.establishment_id.label("id"),  # type: ignore[attr-defined]
            RegisterTerm.name_key.label("name_key"),  # type: ignore[attr-defined]
        )
        .where(or_(*(_term_matches(w) for w in found)))
        .group_by(RegisterTerm.establishment_id, RegisterTerm.name_key)
    )
    if len(found) > 1:
        which = case(*((_term_matches(w), i) for i, w in enumerate(found)))
        grouped = grouped.having(func.count(distinct(which)) == len(found))
    matches = grouped.subquery()
    listed = select(matches.c.id)
    filters = _filters(query)
    if filters:
        listed = listed.join(Establishment, Establishment.id == matches.c.id).where(*filters)  # type: ignore[arg-type]
    order = (
        _prefix_relevance(matches.c.name_key, " ".join(query.words)),
        matches.c.name_key,
        matches.c.id,
    )
    return _one_page(db_session, listed, order, query.page, per_page)


def _by_establishment(
    db_session: Session, query: RegisterQuery, per_page: int
) -> tuple[int, int, list[int]]:
    """A search by RUC, filters or standing: on the establishment table and its indexes."""
    conditions = _filters(query)
    ruc = query.ruc_prefix
    if ruc:
        conditions.append(
            Establishment.ruc == ruc  # type: ignore[arg-type]
            if len(ruc) == 11
            else and_(Establishment.ruc >= ruc, Establishment.ruc < ruc + ":")  # type: ignore[arg-type]
        )
    for word in query.words if not ruc else []:
        conditions.append(
            Establishment.id.in_(  # type: ignore[union-attr]
                select(RegisterTerm.establishment_id).where(_term_matches(word))
            )
        )
    listed = select(Establishment.id)
    if query.standing:
        periods = list(db_session.scalars(select(ReportingPeriod)))
        standing, reports = standing_sql(Establishment.id, periods)
        conditions.append(standing == query.standing)
        listed = listed.join(Signature, latest_signature_join(Establishment.id))  # type: ignore[arg-type]
        for report, joined_on in reports:
            listed = listed.outerjoin(report, joined_on)
    else:
        conditions.append(exists().where(Signature.establishment_id == Establishment.id))
    relevance = (
        [_prefix_relevance(Establishment.name_key, " ".join(query.words))]
        if query.words and not ruc
        else []
    )
    # A RUC typed: by RUC and branch (straight off the RUC's index); otherwise by name.
    order = (
        (Establishment.ruc, Establishment.branch_code, Establishment.id)
        if ruc
        else (*relevance, Establishment.name_key, Establishment.id)
    )
    return _one_page(db_session, listed.where(*conditions), order, query.page, per_page)


def _one_page(
    db_session: Session, listed: Any, order: tuple[Any, ...], page: int, per_page: int
) -> tuple[int, int, list[int]]:
    """The ids on one page and how many match in all, in one pass (a window count); a page past
    the last costs a second query, to count and show the last page instead."""

    def fetch(number: int) -> list[tuple[int, int]]:
        return list(
            db_session.execute(
                listed.add_columns(func.count().over())
                .order_by(*order)
                .offset((number - 1) * per_page)
                .limit(per_page)
            ).all()
        )

    page = max(page, 1)
    rows = fetch(page)
    if rows:
        return rows[0][1], page, [r[0] for r in rows]
    if page == 1:
        return 0, 1, []
    total = db_session.scalar(select(func.count()).select_from(listed.subquery())) or 0
    page = _within(page, total, per_page)
    rows = fetch(page) if total else []
    return total, page, [r[0] for r in rows]


def _within(page: int, total: int, per_page: int) -> int:
    """The page asked for, brought within the pages there are (a page past the last is the last)."""
    return min(max(page, 1), max(1, math.ceil(total / per_page)))


def search(
    *, db_session: Session, query: RegisterQuery, per_page: int = PER_PAGE, everything: bool = False
) -> RegisterPage:
    """One page of the signatories matching the query, with how many match in all. An empty
    query finds nothing, unless `everything` (the API pages through the whole register)."""
    if query.is_empty and not everything:
        return RegisterPage([], 0, 1, 1, per_page)
    if query.words and not query.ruc_prefix and not query.standing:
        total, page, ids = _by_words(db_session, query, per_page)
    else:
        total, page, ids = _by_establishment(db_session, query, per_page)
    # The page's establishments with their latest signatures (one query), then their standings.
    rows = (
        db_session.execute(
            select(Establishment, Signature)
            .join(Signature, latest_signature_join(Establishment.id))  # type: ignore[arg-type]
            .where(Establishment.id.in_(ids))  # type: ignore[union-attr]
        ).all()
        if ids
        else []
    )
    found = {e.id: (e, sig) for e, sig in rows}
    signatures = {i: sig for i, (_e, sig) in found.items()}
    standing = standings(db_session, ids, signatures)  # type: ignore[arg-type]
    entries = [_entry(found[i][0], found[i][1], standing[i]) for i in ids]
    return RegisterPage(entries, total, page, max(1, math.ceil(total / per_page)), per_page)


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
