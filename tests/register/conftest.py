"""Signatories made straight in the database: the register only reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

from sqlalchemy import select

from app.conduct.models import CodeVersion, Signature
from app.establishments.models import Establishment
from tests.conftest import valid_ruc

_numbers = count(1)


def add_signatory(  # type: ignore[no-untyped-def]
    db,
    trade_name: str,
    *,
    legal_name: str = "Inversiones Demo S.A.C.",
    ruc: str | None = None,
    region: str = "PE-CUS",
    province: str = "Cusco",
    category: str = "lodging",
    status: str | None = "active",
    signed_at: datetime = datetime(2020, 5, 4, 15, tzinfo=UTC),
) -> Establishment:
    """An establishment (and its signature unless status is None), committed."""
    n = next(_numbers)
    establishment = Establishment(
        ruc=ruc or valid_ruc(f"20{n:08d}"),
        branch_code="0000",
        legal_name=legal_name,
        trade_name=trade_name,
        category=category,
        region=region,
        province=province,
        district="Centro",
        address="Jr. Ejemplo 123",
    )
    db.add(establishment)
    db.flush()
    if status is not None:
        version = db.scalars(select(CodeVersion).order_by(CodeVersion.id)).first()
        db.add(
            Signature(
                establishment_id=establishment.id,
                code_version_id=version.id,
                signatory_number=f"CC-{signed_at.year}-{n:06d}",
                representative_name="Representante Prueba",
                document_type="DNI",
                document_number="40000000",
                status=status,
                signed_at=signed_at,
            )
        )
    db.commit()
    return establishment
