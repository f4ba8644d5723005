"""A realistic Peruvian demo for development: accounts of every role, establishments, signatures."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from app.auth.service import create_user, get_user_by_email
from app.conduct.models import Signature
from app.conduct.service import current_code_version, next_signatory_number
from app.establishments.models import Establishment, EstablishmentOperator
from app.jurisdiction.peru import ruc_check_digit

PASSWORD = "Demo-Portal-2026"
ACCOUNTS = [
    ("operator", "operador@demo.pe", ()),
    ("operator", "cadena@demo.pe", ()),
    ("reviewer", "revisor.cusco@demo.pe", ("PE-CUS", "PE-MDD")),
    ("national_reviewer", "revisor.nacional@demo.pe", ()),
    ("admin", "admin@demo.pe", ()),
]

# (operator, RUC without check digit, branch, legal name, trade name, category, region, province,
#  district, address, web site, phone, signed on)
ESTABLISHMENTS = [
    (
        "operador@demo.pe",
        "2060412345",
        "0000",
        "Inversiones Ñusta S.A.C.",
        "Hostal Ñusta",
        "lodging",
        "PE-CUS",
        "Cusco",
        "Cusco",
        "Calle Procuradores 351",
        "https://hostalnusta.pe",
        "084 251234",
        datetime(2019, 3, 14, 15, 30, tzinfo=UTC),
    ),
    (
        "operador@demo.pe",
        "1045678912",
        "0000",
        "Quispe Mamani Rosa",
        "Inka Trek Adventures",
        "adventure_operator",
        "PE-CUS",
        "Urubamba",
        "Ollantaytambo",
        "Av. Ferrocarril s/n",
        None,
        "+51 984 111 222",
        None,
    ),
    (
        "cadena@demo.pe",
        "2055501234",
        "0000",
        "Hoteles Amazonía del Sur S.A.",
        "Amazonía Lodge Tambopata",
        "lodging",
        "PE-MDD",
        "Tambopata",
        "Tambopata",
        "Km 12 río Tambopata",
        "https://amazonialodge.pe",
        "082 571 000",
        datetime(2020, 8, 3, 14, 0, tzinfo=UTC),
    ),
    (
        "cadena@demo.pe",
        "2055501234",
        "0001",
        "Hoteles Amazonía del Sur S.A.",
        "Amazonía Hotel Puerto Maldonado",
        "lodging",
        "PE-MDD",
        "Tambopata",
        "Tambopata",
        "Jr. Loreto 220",
        "https://amazonialodge.pe",
        "082 571 001",
        datetime(2020, 8, 3, 14, 10, tzinfo=UTC),
    ),
    (
        "cadena@demo.pe",
        "2055501234",
        "0002",
        "Hoteles Amazonía del Sur S.A.",
        "Amazonía Hotel Iquitos",
        "lodging",
        "PE-LOR",
        "Maynas",
        "Iquitos",
        "Malecón Tarapacá 340",
        "https://amazonialodge.pe",
        "065 231 002",
        None,
    ),
    (
        "cadena@demo.pe",
        "2060998877",
        "0000",
        "Titicaca Tours E.I.R.L.",
        "Titicaca Tours",
        "travel_agency",
        "PE-PUN",
        "Puno",
        "Puno",
        "Jr. Lima 418",
        None,
        "051 365 443",
        datetime(2021, 5, 20, 16, 45, tzinfo=UTC),
    ),
    (
        "cadena@demo.pe",
        "2051234567",
        "0000",
        "Restaurantes del Pacífico S.A.C.",
        "Restaurante El Tumi",
        "restaurant",
        "PE-LMA",
        "Lima",
        "Miraflores",
        "Av. La Mar 1200",
        "https://eltumi.pe",
        "01 445 9988",
        datetime(2022, 11, 2, 17, 5, tzinfo=UTC),
    ),
]


def load_demo(engine: Engine) -> list[tuple[str, str, str]]:
    """Create the demo once; running it again changes nothing."""
    with Session(engine) as session:
        if get_user_by_email(db_session=session, email=ACCOUNTS[0][1]) is None:
            users = {
                email: create_user(
                    db_session=session,
                    email=email,
                    password=PASSWORD,
                    role=role,
                    regions=regions,
                    confirmed=True,
                )
                for role, email, regions in ACCOUNTS
            }
            version = current_code_version(db_session=session)
            for (
                owner,
                ruc10,
                branch,
                legal,
                trade,
                category,
                region,
                province,
                district,
                address,
                website,
                phone,
                signed_at,
            ) in ESTABLISHMENTS:
                establishment = Establishment(
                    ruc=ruc10 + str(ruc_check_digit(ruc10)),
                    branch_code=branch,
                    legal_name=legal,
                    trade_name=trade,
                    category=category,
                    region=region,
                    province=province,
                    district=district,
                    address=address,
                    website=website,
                    phone=phone,
                )
                session.add(establishment)
                session.flush()
                session.add(
                    EstablishmentOperator(
                        establishment_id=establishment.id, user_id=users[owner].id
                    )
                )
                if signed_at is not None:
                    session.add(
                        Signature(
                            establishment_id=establishment.id,
                            code_version_id=version.id,
                            signatory_number=next_signatory_number(session, signed_at.year),
                            representative_name="Representante Demo",
                            document_type="DNI",
                            document_number="40000000",
                            signed_at=signed_at,
                            signed_by_id=users[owner].id,
                        )
                    )
            session.commit()
    return [(role, email, PASSWORD) for role, email, _ in ACCOUNTS]
