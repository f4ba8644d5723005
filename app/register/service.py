"""Searching the register of signatories."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlmodel import Session

from app.conduct.models import Signature
from app.establishments.models import Establishment
from app.establishments.standing import Standing, standings


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
    signed_on: object
    standing: Standing


def search(
    *,
    db_session: Session,
    q: str = "",
    region: str = "",
    category: str = "",
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[RegisterEntry], int]:
    """Signatories matching the filters, by trade name; each with its latest signature."""
    latest = (
        select(Signature.establishment_id, func.max(Signature.id).label("signature_id"))
        .group_by(Signature.establishment_id)
        .subquery()
    )
    statement = (
        select(Establishment, Signature)
        .join(latest, latest.c.establishment_id == Establishment.id)
        .join(Signature, Signature.id == latest.c.signature_id)
    )
    q = q.strip()
    if q:
        if q.isdigit():
            statement = statement.where(Establishment.ruc.startswith(q))  # type: ignore[attr-defined]
        else:
            pattern = f"%{q.lower()}%"
            statement = statement.where(
                or_(
                    func.lower(Establishment.trade_name).like(pattern),
                    func.lower(Establishment.legal_name).like(pattern),
                )
            )
    if region:
        statement = statement.where(Establishment.region == region)
    if category:
        statement = statement.where(Establishment.category == category)
    total = db_session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = db_session.execute(
        statement.order_by(Establishment.trade_name, Establishment.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    standing = standings(db_session, [e.id for e, _s in rows])  # type: ignore[misc]
    entries = [
        RegisterEntry(
            id=e.id,  # type: ignore[arg-type]
            trade_name=e.trade_name,
            legal_name=e.legal_name,
            ruc=e.ruc,
            branch_code=e.branch_code,
            category=e.category,
            region=e.region,
            province=e.province,
            district=e.district,
            signatory_number=s.signatory_number,
            signed_on=s.signed_at.date(),
            standing=standing[e.id],  # type: ignore[index]
        )
        for e, s in rows
    ]
    return entries, total
