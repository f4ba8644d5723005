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
import threading
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, exists, func, select, tuple_
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
    period_rows,
    report_states,
    standing_from,
    standing_sql,
)

PER_PAGE = 20
#: Words of a query beyond these are ignored: six words pin down any establishment's name.
MAX_WORDS = 6
#: What the standing filter offers (an establishment that never signed is not in the register).
LISTED_STANDINGS = tuple(s for s in Standing if s is not Standing.NOT_SIGNED)
_RUC_TYPED = re.compile(r"^[\d\s.\-]+$")
#: Where a session making a cached page holds the page's generation (app/register/cache.py).
GENERATION = "register_generation"


class _PerGeneration:
    """Values read from the database, kept for the pages of one register generation (the
    register version and the day, app/register/cache.py): every write to public data starts a
    new one, so a value kept is one that would be read again now. Used only by sessions that carry
    their page's generation (`GENERATION` in `session.info`); the others read every time."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._generation: Any = None
        self._values: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def kept(self, db_session: Session, key: Any) -> Any:
        """The value kept under `key` for this session's generation, or None."""
        with self._lock:
            values = self._values_of(db_session.info.get(GENERATION))
            return None if values is None else values.get(key)

    def keep(self, db_session: Session, key: Any, value: Any) -> None:
        with self._lock:
            values = self._values_of(db_session.info.get(GENERATION))
            if values is not None and len(values) < self._limit:
                values[key] = value

    def _values_of(self, generation: Any) -> dict[Any, Any] | None:
        """The values kept for `generation` (begun afresh for a newer one); None for a session
        without one, or for a page of an older generation still being made."""
        if generation is None:
            return None
        if generation != self._generation:
            if self._generation is not None and generation < self._generation:
                return None
            self._generation, self._values = generation, {}
        return self._values


#: The reporting periods, and how many terms each word typed begins (`_rarest_first`).
_periods = _PerGeneration(limit=1)
_word_terms = _PerGeneration(limit=20_000)


def _period_rows(db_session: Session) -> list[Any]:
    rows = _periods.kept(db_session, "periods")
    if rows is None:
        rows = period_rows(db_session)
        _periods.keep(db_session, "periods", rows)
    return rows  # type: ignore[no-any-return]


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


# The statements are built once per shape (how many words, which filters) with bound parameters
# and plain table columns, then only executed: building a SQLAlchemy statement and loading ORM
# objects cost more than the database's work for most searches (bench/RESULTS-register.md).
_establishment = Establishment.__table__  # type: ignore[attr-defined]
_term = RegisterTerm.__table__  # type: ignore[attr-defined]
_signature = Signature.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Shape:
    """What a search's SQL depends on (the values typed go in as parameters)."""

    words: int = 0
    region: bool = False
    category: bool = False
    province: bool = False
    #: "": no RUC typed; "exact": 11 digits; "prefix": fewer.
    ruc: str = ""


def _shape_and_parameters(
    query: RegisterQuery, db_session: Session | None = None
) -> tuple[_Shape, dict[str, Any]]:
    """The statement's shape and its values; with `db_session`, several words go rarest first."""
    ruc = query.ruc_prefix
    found = [] if ruc else _independent(query.words)
    if db_session is not None and not query.standing:
        found = _rarest_first(db_session, found)
    province = fold(query.province)
    parameters: dict[str, Any] = {
        "region": query.region,
        "category": query.category,
        "province": province,
        "phrase": " ".join(query.words),
        "phrase_end": " ".join(query.words) + HIGH,
        "ruc": ruc or "",
        "ruc_end": (ruc or "") + ":",
    }
    for i, word in enumerate(found):
        parameters[f"w{i}"] = word
        parameters[f"w{i}_end"] = word + HIGH
    shape = _Shape(
        words=len(found),
        region=bool(query.region),
        category=bool(query.category),
        province=bool(province),
        ruc="" if not ruc else "exact" if len(ruc) == 11 else "prefix",
    )
    return shape, parameters


def _filters(shape: _Shape) -> list[ColumnElement[bool]]:
    """Region, province and category, on the establishment."""
    conditions: list[ColumnElement[bool]] = []
    if shape.region:
        conditions.append(_establishment.c.region == bindparam("region"))
    if shape.category:
        conditions.append(_establishment.c.category == bindparam("category"))
    if shape.province:
        conditions.append(_establishment.c.province_key == bindparam("province"))
    return conditions


def _term_matches(i: int, term: Any = _term) -> ColumnElement[bool]:
    """The term starts with word i: an index range, the same on both databases (no LIKE)."""
    return and_(term.c.term >= bindparam(f"w{i}"), term.c.term < bindparam(f"w{i}_end"))


def _prefix_relevance(name_key: Any) -> ColumnElement[int]:
    """0: the trade name is the text typed; 1: it starts with it; 2: it merely has every word."""
    return case(
        (name_key == bindparam("phrase"), 0),
        (and_(name_key >= bindparam("phrase"), name_key < bindparam("phrase_end")), 1),
        else_=2,
    )


def _independent(found: list[str]) -> list[str]:
    """The words typed, less those that begin another one ("ho hos": a term matching "hos"
    matches "ho" too), so that no term can match two of them."""
    return [w for w in found if not any(o != w and o.startswith(w) for o in found)]


@cache
def _by_words(shape: _Shape) -> tuple[Any, tuple[Any, ...]]:
    """A search by name: matched, counted and ordered from the search index alone.

    The first word's index range (no table rows), grouped by establishment; with several words,
    each of the others is then looked for among only those establishments' own terms (a few
    each). `_rarest_first` puts first the word with the fewest terms, so "hostal cóndor" walks
    the 2,123 terms of "hostal", not those of both words. The filters then look up only the
    establishments matched.

    Another word is looked for as `(establishment_id, term)` between `(id, word)` and
    `(id, word_end)`: the same range as `establishment_id = id AND term in the word's range`, but
    one that only the index `(establishment_id, term)` can answer. Written the plain way,
    PostgreSQL estimates a narrow range of terms at one row and may walk the other word's whole
    range for every candidate: "hotel huayna" took 198 ms (1,370 × 2,054 terms) instead of 4.
    """
    conditions = [_term_matches(0)]
    for i in range(1, shape.words):
        other = _term.alias(f"word_{i}")
        own_terms = tuple_(other.c.establishment_id, other.c.term)
        conditions.append(
            exists().where(
                own_terms >= tuple_(_term.c.establishment_id, bindparam(f"w{i}")),
                own_terms < tuple_(_term.c.establishment_id, bindparam(f"w{i}_end")),
            )
        )
    matches = (
        select(_term.c.establishment_id.label("id"), _term.c.name_key.label("name_key"))
        .where(*conditions)
        .group_by(_term.c.establishment_id, _term.c.name_key)
        .subquery()
    )
    listed = select(matches.c.id)
    filters = _filters(shape)
    if filters:
        listed = listed.join(_establishment, _establishment.c.id == matches.c.id).where(*filters)
    order = (_prefix_relevance(matches.c.name_key), matches.c.name_key, matches.c.id)
    return listed, order


#: Terms counted per word to tell which is rarest; beyond this a word is just "common".
_RARITY_CAP = 2_000


@cache
def _terms_of_words(count: int) -> Any:
    """How many terms (up to `_RARITY_CAP`) each of `count` words begins: one statement."""
    return select(
        *(
            select(func.count())
            .select_from(
                select(_term.c.establishment_id)
                .where(_term_matches(i))
                .limit(_RARITY_CAP)
                .subquery()
            )
            .scalar_subquery()
            for i in range(count)
        )
    )


def _rarest_first(db_session: Session, found: list[str]) -> list[str]:
    """The words, the one that begins the fewest terms first (a bounded count of each word's
    index range, all in one statement)."""
    if len(found) < 2:
        return found
    counts = {word: _word_terms.kept(db_session, word) for word in found}
    unknown = [word for word, count in counts.items() if count is None]
    if unknown:
        values = {f"w{i}": word for i, word in enumerate(unknown)}
        values.update({f"w{i}_end": word + HIGH for i, word in enumerate(unknown)})
        row = db_session.execute(_terms_of_words(len(unknown)), values).one()
        for word, count in zip(unknown, row, strict=True):
            counts[word] = count
            _word_terms.keep(db_session, word, count)
    # Between two words past the cap, the longer one (usually the rarer: "hotel de").
    return sorted(found, key=lambda word: (counts[word], -len(word)))


def _by_establishment(shape: _Shape, standing: Any = None) -> tuple[Any, tuple[Any, ...]]:
    """A search by RUC, filters or standing: on the establishment table and its indexes.

    `standing`: the standing filter's SQL and joins (`standing_sql`), which hold today's date and
    the periods as constants (so those statements are built every time, the others once)."""
    e = _establishment
    conditions = _filters(shape)
    if shape.ruc == "exact":
        conditions.append(e.c.ruc == bindparam("ruc"))
    elif shape.ruc == "prefix":
        conditions.append(and_(e.c.ruc >= bindparam("ruc"), e.c.ruc < bindparam("ruc_end")))
    for i in range(shape.words):
        conditions.append(e.c.id.in_(select(_term.c.establishment_id).where(_term_matches(i))))
    listed = select(e.c.id)
    if standing is not None:
        expression, reports = standing
        conditions.append(expression == bindparam("standing"))
        listed = listed.join(Signature, latest_signature_join(e.c.id))
        for report, joined_on in reports:
            listed = listed.outerjoin(report, joined_on)
    else:
        conditions.append(exists().where(_signature.c.establishment_id == e.c.id))
    # A RUC typed: by RUC and branch (straight off the RUC's index); otherwise by name.
    if shape.ruc:
        order: tuple[Any, ...] = (e.c.ruc, e.c.branch_code, e.c.id)
    else:
        relevance = [_prefix_relevance(e.c.name_key)] if shape.words else []
        order = (*relevance, e.c.name_key, e.c.id)
    return listed.where(*conditions), order


_cached_by_establishment = cache(_by_establishment)


@cache
def _page_statement(listed: Any, order: tuple[Any, ...]) -> Any:
    return (
        listed.add_columns(func.count().over())
        .order_by(*order)
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )


def _one_page(
    db_session: Session,
    listed: Any,
    order: tuple[Any, ...],
    parameters: dict[str, Any],
    page: int,
    per_page: int,
) -> tuple[int, int, list[int]]:
    """The ids on one page and how many match in all, in one pass (a window count); a page past
    the last costs a second query, to count and show the last page instead."""
    statement = _page_statement(listed, order)

    def fetch(number: int) -> list[Any]:
        values = {**parameters, "offset": (number - 1) * per_page, "limit": per_page}
        return list(db_session.execute(statement, values).all())

    page = max(page, 1)
    rows = fetch(page)
    if rows:
        return rows[0][1], page, [r[0] for r in rows]
    if page == 1:
        return 0, 1, []
    counted = select(func.count()).select_from(listed.subquery())
    total = db_session.execute(counted, parameters).scalar() or 0
    page = _within(page, total, per_page)
    rows = fetch(page) if total else []
    return total, page, [r[0] for r in rows]


def _within(page: int, total: int, per_page: int) -> int:
    """The page asked for, brought within the pages there are (a page past the last is the last)."""
    return min(max(page, 1), max(1, math.ceil(total / per_page)))


#: The page's establishments with their latest signatures: what an entry shows, nothing more.
_ENTRIES = (
    select(
        _establishment.c.id,
        _establishment.c.trade_name,
        _establishment.c.legal_name,
        _establishment.c.ruc,
        _establishment.c.branch_code,
        _establishment.c.category,
        _establishment.c.region,
        _establishment.c.province,
        _establishment.c.district,
        Signature.signatory_number,
        Signature.status,
        Signature.signed_at,
    )
    .join(Signature, latest_signature_join(_establishment.c.id))
    .where(_establishment.c.id.in_(bindparam("ids", expanding=True)))
)


#: One establishment with its latest signature, for its public page (the certificate's status
#: also needs when the signature last changed).
_ONE_ENTRY = (
    select(*_ENTRIES.selected_columns, Signature.status_changed_at)
    .join(Signature, latest_signature_join(_establishment.c.id))
    .where(_establishment.c.id == bindparam("id"))
)


def search(
    *, db_session: Session, query: RegisterQuery, per_page: int = PER_PAGE, everything: bool = False
) -> RegisterPage:
    """One page of the signatories matching the query, with how many match in all. An empty
    query finds nothing, unless `everything` (the API pages through the whole register)."""
    if query.is_empty and not everything:
        return RegisterPage([], 0, 1, 1, per_page)
    if db_session.autoflush:
        db_session.flush()  # plain statements do not flush: what this session changed counts
    shape, parameters = _shape_and_parameters(query, db_session)
    periods = None
    if query.standing:
        periods = _period_rows(db_session)
        parameters["standing"] = query.standing
        listed, order = _by_establishment(shape, standing_sql(_establishment.c.id, periods))
    elif shape.words and not shape.ruc:
        listed, order = _by_words(shape)
    else:
        listed, order = _cached_by_establishment(shape)
    total, page, ids = _one_page(db_session, listed, order, parameters, query.page, per_page)
    # The page's establishments with their latest signatures (one query), then their standings.
    rows = db_session.execute(_ENTRIES, {"ids": ids}).all() if ids else []
    found = {row.id: row for row in rows}
    periods = periods if periods is not None else _period_rows(db_session) if ids else []
    states = report_states(db_session, ids)
    on = today()
    entries = [
        _entry(found[i], found[i], standing_from(found[i], periods, states.get(i), on)) for i in ids
    ]
    return RegisterPage(entries, total, page, max(1, math.ceil(total / per_page)), per_page)


def _entry(establishment: Any, signature: Any, standing: Standing) -> RegisterEntry:
    """An entry from an establishment and its signature (objects or rows with their columns)."""
    return RegisterEntry(
        id=establishment.id,
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
    if db_session.autoflush:
        db_session.flush()  # plain statements do not flush: what this session changed counts
    # The establishment with its latest signature in one statement (rows, not ORM objects).
    row = db_session.execute(_ONE_ENTRY, {"id": entry_id}).first()
    if row is None:
        raise NotFound()
    establishment = signature = row
    periods = _period_rows(db_session)
    # Two columns, not whole reports with their answers (JSON): only the states are public.
    states = report_states(db_session, [entry_id]).get(entry_id, {})
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
        certificate=_certificate(db_session, entry_id, signature, periods),
    )


def _certificate(
    db_session: Session, entry_id: int, signature: Any, periods: list[Any]
) -> PublicCertificate | None:
    certificate: Certificate | None = current_certificate(
        db_session=db_session, establishment_id=entry_id
    )
    if certificate is None:
        return None
    year = next((p.year for p in periods if p.id == certificate.period_id), None)
    return PublicCertificate(
        number=certificate.number,
        year=year or certificate.issued_on.year,
        status=status_of(certificate, signature).status,
        valid_until=certificate.valid_until,
    )
