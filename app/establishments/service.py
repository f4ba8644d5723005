"""Establishments: who may see and manage which, and adding one."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Select, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.auth.models import User, UserRegion
from app.auth.roles import Permission, has_permission
from app.errors import Conflict, DomainError, NotFound
from app.establishments.forms import EstablishmentForm
from app.establishments.models import Establishment, EstablishmentOperator
from app.i18n import _
from app.mail import queue_mail


def readable_statement(user: User) -> Select[tuple[Establishment]]:
    """The establishments `user` may see: their own, their regions', or all (staff by role)."""
    statement = select(Establishment)
    if has_permission(user.role, Permission.VIEW_ALL_ESTABLISHMENTS):
        return statement
    if has_permission(user.role, Permission.VIEW_REGION_ESTABLISHMENTS):
        return statement.where(
            Establishment.region.in_(  # type: ignore[attr-defined]
                select(UserRegion.region).where(UserRegion.user_id == user.id)
            )
        )
    return statement.where(_managed_by(user))


def _managed_by(user: User):  # type: ignore[no-untyped-def]
    return exists().where(
        EstablishmentOperator.establishment_id == Establishment.id,
        EstablishmentOperator.user_id == user.id,
    )


def get_readable(*, db_session: Session, user: User, establishment_id: int) -> Establishment:
    """One establishment the user may see, or NotFound (the same answer as for one that does not exist)."""
    establishment = db_session.scalars(
        readable_statement(user).where(Establishment.id == establishment_id)
    ).first()
    if establishment is None:
        raise NotFound()
    return establishment


def get_managed(*, db_session: Session, user: User, establishment_id: int) -> Establishment:
    """One establishment the user manages as its operator, or NotFound."""
    establishment = db_session.scalars(
        select(Establishment).where(Establishment.id == establishment_id, _managed_by(user))
    ).first()
    if establishment is None:
        raise NotFound()
    return establishment


def manages(*, db_session: Session, user: User, establishment: Establishment) -> bool:
    return bool(
        db_session.scalar(
            select(func.count())
            .select_from(EstablishmentOperator)
            .where(
                EstablishmentOperator.establishment_id == establishment.id,
                EstablishmentOperator.user_id == user.id,
            )
        )
    )


def list_readable(
    *, db_session: Session, user: User, page: int = 1, per_page: int = 50
) -> tuple[list[Establishment], int]:
    statement = readable_statement(user)
    total = db_session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = db_session.scalars(
        statement.order_by(Establishment.trade_name, Establishment.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), total


def find_by_ruc_branch(*, db_session: Session, ruc: str, branch_code: str) -> Establishment | None:
    return db_session.scalars(
        select(Establishment).where(
            Establishment.ruc == ruc, Establishment.branch_code == branch_code
        )
    ).first()


def create_establishment(
    *, db_session: Session, user: User, data: EstablishmentForm
) -> Establishment:
    """Add an establishment managed by `user` (an operator; a chain adds many)."""
    if not has_permission(user.role, Permission.MANAGE_OWN_ESTABLISHMENTS):
        raise DomainError(_("Only operator accounts can add establishments"))
    duplicate = _(
        "An establishment with this RUC and branch code is already registered. If it is yours, "
        "ask the person who registered it to add you, or write to the regional tourism "
        "directorate to claim it."
    )
    if find_by_ruc_branch(db_session=db_session, ruc=data.ruc, branch_code=data.branch_code):
        raise Conflict(duplicate, "branch_code", code="duplicate_establishment")
    establishment = Establishment(
        **data.model_dump(exclude={"website", "phone"}),
        website=data.website or None,
        phone=data.phone or None,
    )
    try:
        with db_session.begin_nested():
            db_session.add(establishment)
            db_session.flush()
            db_session.add(
                EstablishmentOperator(establishment_id=establishment.id, user_id=user.id)
            )
            db_session.flush()
    except IntegrityError:
        raise Conflict(duplicate, "branch_code", code="duplicate_establishment") from None
    return establishment


def mail_operators(
    *,
    db_session: Session,
    establishment_id: int,
    template: str,
    context: dict[str, object],
    attachment: Callable[[str], tuple[str, str, bytes]] | None = None,
) -> None:
    """Mail every operator of an establishment, each in their own language.

    `attachment`, given the recipient's locale, makes the file to attach (a PDF in that language).
    """
    for operator in operators_of(db_session=db_session, establishment_id=establishment_id):
        queue_mail(
            db_session=db_session,
            to=operator.email,
            template=template,
            locale=operator.locale,
            context=context,
            attachment=attachment(operator.locale) if attachment else None,
        )


def operators_of(*, db_session: Session, establishment_id: int) -> list[User]:
    """The active operator accounts that manage an establishment (who gets its mail)."""
    return list(
        db_session.scalars(
            select(User)
            .join(EstablishmentOperator, EstablishmentOperator.user_id == User.id)  # type: ignore[arg-type]
            .where(EstablishmentOperator.establishment_id == establishment_id, User.is_active)
        )
    )
