"""A realistic Peruvian demo for development: accounts of every role, establishments, signatures."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlmodel import Session

from app.auth.models import User
from app.auth.service import create_user, get_user_by_email
from app.conduct.models import Signature
from app.conduct.service import current_code_version, next_signatory_number
from app.config import Settings
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


def load_demo(engine: Engine, settings: Settings | None = None) -> list[tuple[str, str, str]]:
    """Create the demo once; running it again changes nothing. With the settings, approved
    reports get their certificates, as the portal issues them."""
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
            session.flush()
            _demo_reports(session, users["operador@demo.pe"])
            if settings is not None:
                _demo_certificates(session, settings)
            session.commit()
    return [(role, email, PASSWORD) for role, email, _ in ACCOUNTS]


# What a typical lodging answers, as it would be typed in the report form.
ANSWERS = {
    "policy": {
        "status": "done",
        "narrative": "Política aprobada por la gerencia y publicada en recepción.",
        "fig-adopted": "yes",
        "fig-adopted_on": "2023-03-01",
        "fig-published_where": "Recepción y página web",
    },
    "training": {
        "status": "partly",
        "narrative": "Dos sesiones con la DIRCETUR; falta el personal nuevo.",
        "fig-staff_total": "14",
        "fig-staff_trained": "10",
        "fig-sessions-0-date": "2024-05-03",
        "fig-sessions-0-provider": "DIRCETUR",
        "fig-sessions-0-hours": "3",
    },
    "supplier_contracts": {
        "status": "done",
        "narrative": "Cláusula incluida en todos los contratos.",
        "fig-contracts_total": "6",
        "fig-contracts_with_clause": "6",
    },
    "traveller_information": {
        "status": "done",
        "narrative": "Afiche en recepción y habitaciones.",
        "fig-poster_displayed": "yes",
        "fig-poster_locations": "Recepción, habitaciones",
        "fig-on_website": "yes",
    },
    "minors_entry_control": {
        "status": "done",
        "narrative": "Se verifica identidad y parentesco al registrarse.",
        "fig-procedure_in_place": "yes",
        "fig-entries_refused": "0",
    },
    "reporting": {
        "status": "done",
        "narrative": "No se detectaron casos en el año.",
        "fig-cases_detected": "0",
        "fig-cases_reported": "0",
    },
    "local_stakeholders": {
        "status": "done",
        "narrative": "Participación en la mesa distrital de protección.",
        "fig-activities": "2",
    },
}
# The state of each establishment's report, by trade name: (year before last, last year).
REPORT_STATES = {
    "Hostal Ñusta": ("approved", "draft"),
    "Amazonía Lodge Tambopata": ("approved", "submitted"),
    "Titicaca Tours": ("rejected", None),
    "Restaurante El Tumi": ("approved", "submitted"),
}


def _demo_certificates(session: Session, settings: Settings) -> None:
    from app.certificates import service as certificates
    from app.reports.models import AnnualReport

    for report in session.scalars(select(AnnualReport).where(AnnualReport.state == "approved")):
        certificates.issue(db_session=session, settings=settings, report=report, actor=None)


def _demo_reports(session: Session, operator: User) -> None:
    """Two periods: the year before last (closed long ago) and last year (open, deadline extended)."""
    from datetime import date, timedelta

    from app.clock import today
    from app.reports.models import AnnualReport, ReportSubmission
    from app.reports.service import PeriodInput, canonical_sha256, create_period, form_definition

    now = today()
    older = create_period(db_session=session, data=PeriodInput(year=now.year - 2))
    latest = create_period(
        db_session=session,
        data=PeriodInput(
            year=now.year - 1, deadline=max(date(now.year, 3, 31), now + timedelta(days=45))
        ),
    )
    for establishment in session.scalars(select(Establishment)):
        states = REPORT_STATES.get(establishment.trade_name)
        if not states:
            continue
        for period, state in zip((older, latest), states, strict=True):
            if state is None:
                continue
            definition = form_definition(db_session=session, period=period)
            content = definition.empty_content(establishment.category)
            for section in definition.sections_for(establishment.category):
                values, _errors = definition.parse_section(
                    section, ANSWERS[section.code], period.year
                )
                content["sections"][section.code] = values
            report = AnnualReport(
                establishment_id=establishment.id,
                period_id=period.id,
                state=state,
                content=content,
                updated_by_id=operator.id,
            )
            session.add(report)
            session.flush()
            if state != "draft":
                filed = {
                    "year": period.year,
                    "form_version": definition.version,
                    "establishment": {
                        "ruc": establishment.ruc,
                        "branch_code": establishment.branch_code,
                        "legal_name": establishment.legal_name,
                        "trade_name": establishment.trade_name,
                        "category": establishment.category,
                        "region": establishment.region,
                    },
                    "sections": content["sections"],
                    "evidence": [],
                }
                session.add(
                    ReportSubmission(
                        report_id=report.id,
                        number=1,
                        content=filed,
                        content_sha256=canonical_sha256(filed),
                        submitted_by_id=operator.id,
                    )
                )
