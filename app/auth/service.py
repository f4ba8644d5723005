"""Accounts: registering, confirming the e-mail, signing in and out, resetting a password."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlmodel import Session

from app.audit import service as audit
from app.auth.models import (
    SIGNED_IN_SID_MARK,
    AccountToken,
    LoginFailure,
    User,
    UserRegion,
    UserSession,
)
from app.auth.passwords import hash_password, needs_rehash, password_problem, verify_password
from app.auth.roles import ROLES
from app.config import Settings
from app.db import utcnow
from app.errors import DomainError, NotFound
from app.i18n import _
from app.jurisdiction import current_scheme
from app.mail import queue_mail


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get_user_by_email(*, db_session: Session, email: str) -> User | None:
    return db_session.scalars(select(User).where(User.email == normalize_email(email))).first()


def user_regions(*, db_session: Session, user: User) -> list[str]:
    return list(
        db_session.scalars(
            select(UserRegion.region)
            .where(UserRegion.user_id == user.id)
            .order_by(UserRegion.region)
        )
    )


def create_user(
    *,
    db_session: Session,
    email: str,
    password: str,
    role: str,
    regions: Sequence[str] = (),
    locale: str = "es",
    confirmed: bool = False,
) -> User:
    """Create an account (staff from the CLI or admin pages; operators through register_operator)."""
    if role not in ROLES:
        raise DomainError(_("Choose a role"), "role")
    if role == "reviewer" and not regions:
        raise DomainError(_("A regional reviewer needs at least one region"), "regions")
    scheme = current_scheme()
    for region in regions:
        if scheme.region(region) is None:
            raise DomainError(_("Unknown region: %(code)s", code=region), "regions")
    problem = password_problem(password, email)
    if problem:
        raise DomainError(problem, "password")
    if get_user_by_email(db_session=db_session, email=email):
        raise DomainError(_("An account with this e-mail address already exists"), "email")
    user = User(
        email=normalize_email(email),
        password_hash=hash_password(password),
        role=role,
        locale=locale,
        email_confirmed_at=utcnow() if confirmed else None,
    )
    db_session.add(user)
    db_session.flush()
    for region in sorted(set(regions)):
        db_session.add(UserRegion(user_id=user.id, region=region))
    db_session.flush()
    return user


def _issue_token(*, db_session: Session, user: User, purpose: str, lifetime: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    db_session.add(
        AccountToken(
            id=_digest(token), user_id=user.id, purpose=purpose, expires_at=utcnow() + lifetime
        )
    )
    return token


def register_operator(
    *, db_session: Session, settings: Settings, email: str, password: str, locale: str
) -> None:
    """Register an operator and send the confirmation link.

    When the address already has an account, the answer is the same (nobody learns which
    addresses are registered) and the owner gets a mail saying so instead.
    """
    existing = get_user_by_email(db_session=db_session, email=email)
    if existing is not None:
        queue_mail(
            db_session=db_session,
            to=existing.email,
            template="account_exists",
            locale=existing.locale,
            context={"base_url": settings.base_url, "email": existing.email},
        )
        return
    user = create_user(
        db_session=db_session, email=email, password=password, role="operator", locale=locale
    )
    send_confirmation(db_session=db_session, settings=settings, user=user)


def send_confirmation(*, db_session: Session, settings: Settings, user: User) -> None:
    token = _issue_token(
        db_session=db_session,
        user=user,
        purpose="confirm_email",
        lifetime=timedelta(hours=settings.confirm_token_hours),
    )
    queue_mail(
        db_session=db_session,
        to=user.email,
        template="confirm_email",
        locale=user.locale,
        context={
            "link": f"{settings.base_url}/account/confirm/{token}",
            "hours": settings.confirm_token_hours,
        },
    )


def _use_token(*, db_session: Session, token: str, purpose: str) -> AccountToken:
    record = db_session.get(AccountToken, _digest(token))
    if record is None or record.purpose != purpose:
        raise DomainError(_("This link is not valid. Check that you copied the whole link."))
    if record.used_at is not None:
        raise DomainError(_("This link has already been used. Each link works only once."))
    if record.expires_at < utcnow():
        raise DomainError(_("This link has expired. Ask for a new one."))
    if purpose == "reset_password":
        user = db_session.get(User, record.user_id)
        # Bound to the password it was sent for: once another link was used or the password was
        # changed, every earlier reset link is worthless.
        if user is None or record.created_at < user.password_changed_at:
            raise DomainError(
                _(
                    "This link no longer works: the password was changed after it was sent. "
                    "Ask for a new one if you need it."
                )
            )
    return record


def confirm_email(*, db_session: Session, token: str) -> User:
    record = _use_token(db_session=db_session, token=token, purpose="confirm_email")
    record.used_at = utcnow()
    user = db_session.get(User, record.user_id)
    assert user is not None
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
    db_session.flush()
    return user


def resend_confirmation(*, db_session: Session, settings: Settings, email: str) -> None:
    """Send a new confirmation link if the account exists and is not confirmed; say nothing else."""
    user = get_user_by_email(db_session=db_session, email=email)
    if user is not None and user.is_active and user.email_confirmed_at is None:
        send_confirmation(db_session=db_session, settings=settings, user=user)


def _failures_since(db_session: Session, key: str, since: object) -> int:
    return (
        db_session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.key == key, LoginFailure.failed_at >= since)
        )
        or 0
    )


def authenticate(
    *, db_session: Session, settings: Settings, email: str, password: str, address: str
) -> User:
    """Check e-mail and password, counting failures per account and per address in the database."""
    window = utcnow() - timedelta(minutes=settings.login_window_minutes)
    account_key = "account:" + normalize_email(email)[:250]
    address_key = "address:" + address[:250]
    if (
        _failures_since(db_session, account_key, window) >= settings.login_max_failures_per_account
        or _failures_since(db_session, address_key, window)
        >= settings.login_max_failures_per_address
    ):
        raise DomainError(
            _(
                "Too many failed attempts to sign in. Wait %(minutes)s minutes and try again, "
                "or reset your password.",
                minutes=settings.login_window_minutes,
            )
        )
    user = get_user_by_email(db_session=db_session, email=email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        db_session.add(LoginFailure(key=account_key))
        db_session.add(LoginFailure(key=address_key))
        raise DomainError(_("The e-mail address or the password is not right"))
    if not user.is_active:
        raise DomainError(_("This account is disabled. Contact the portal's administrators."))
    if user.email_confirmed_at is None:
        raise DomainError(
            _(
                "Confirm your e-mail address first: open the link we sent you. "
                "You can ask for a new link below."
            )
        )
    if needs_rehash(user.password_hash):
        # Made with older or cheaper parameters: the password is at hand now to hash it again.
        user.password_hash = hash_password(password)
    db_session.execute(delete(LoginFailure).where(LoginFailure.key == account_key))
    return user


def start_session(*, db_session: Session, user: User) -> str:
    """Open a server-side session for the user; returns the new cookie value."""
    sid = SIGNED_IN_SID_MARK + secrets.token_urlsafe(32)
    db_session.add(UserSession(id=_digest(sid), user_id=user.id))
    return sid


def end_session(*, db_session: Session, sid: str) -> None:
    db_session.execute(delete(UserSession).where(UserSession.id == _digest(sid)))


def end_all_sessions(*, db_session: Session, user: User) -> None:
    db_session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def user_for_session(*, db_session: Session, settings: Settings, sid: str) -> User | None:
    """The signed-in user of this session id, if the session is still alive."""
    record = db_session.get(UserSession, _digest(sid))
    if record is None:
        return None
    now = utcnow()
    if now - record.last_seen_at > timedelta(
        minutes=settings.session_idle_minutes
    ) or now - record.created_at > timedelta(hours=settings.session_absolute_hours):
        db_session.delete(record)
        return None
    user = db_session.get(User, record.user_id)
    if user is None or not user.is_active:
        return None
    if now - record.last_seen_at > timedelta(minutes=1):
        record.last_seen_at = now
    return user


def request_password_reset(*, db_session: Session, settings: Settings, email: str) -> None:
    """Mail a reset link when the account exists; the page says the same either way."""
    user = get_user_by_email(db_session=db_session, email=email)
    if user is None or not user.is_active:
        return
    token = _issue_token(
        db_session=db_session,
        user=user,
        purpose="reset_password",
        lifetime=timedelta(minutes=settings.reset_token_minutes),
    )
    queue_mail(
        db_session=db_session,
        to=user.email,
        template="reset_password",
        locale=user.locale,
        context={
            "link": f"{settings.base_url}/account/password/reset/{token}",
            "minutes": settings.reset_token_minutes,
        },
    )


def check_confirm_token(*, db_session: Session, token: str) -> None:
    """Raise DomainError saying why a confirmation link no longer works."""
    _use_token(db_session=db_session, token=token, purpose="confirm_email")


def check_reset_token(*, db_session: Session, token: str) -> None:
    _use_token(db_session=db_session, token=token, purpose="reset_password")


def _tell_password_changed(*, db_session: Session, settings: Settings, user: User) -> None:
    """A mail to the account's owner: a change they did not make is then noticed."""
    queue_mail(
        db_session=db_session,
        to=user.email,
        template="password_changed",
        locale=user.locale,
        context={"base_url": settings.base_url},
    )


def reset_password(*, db_session: Session, settings: Settings, token: str, password: str) -> User:
    """Set a new password from a reset link; every open session of the account ends."""
    record = _use_token(db_session=db_session, token=token, purpose="reset_password")
    user = db_session.get(User, record.user_id)
    assert user is not None
    problem = password_problem(password, user.email)
    if problem:
        raise DomainError(problem, "password")
    record.used_at = utcnow()
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    # Following the link proves the mailbox is theirs.
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
    db_session.execute(
        delete(LoginFailure).where(LoginFailure.key == "account:" + user.email[:250])
    )
    end_all_sessions(db_session=db_session, user=user)
    _tell_password_changed(db_session=db_session, settings=settings, user=user)
    db_session.flush()
    return user


def change_password(
    *,
    db_session: Session,
    settings: Settings,
    user: User,
    current_password: str,
    new_password: str,
) -> str:
    """Change a signed-in user's password: every session of the account ends, and the one in use
    goes on under a new id (returned, for the cookie)."""
    if not verify_password(user.password_hash, current_password):
        raise DomainError(_("The current password is not right"), "current_password")
    problem = password_problem(new_password, user.email)
    if problem:
        raise DomainError(problem, "password")
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    end_all_sessions(db_session=db_session, user=user)
    _tell_password_changed(db_session=db_session, settings=settings, user=user)
    db_session.flush()
    return start_session(db_session=db_session, user=user)


def set_user_locale(*, db_session: Session, user: User, locale: str) -> None:
    user.locale = locale
    db_session.flush()


# --- staff accounts, managed by administrators ---------------------------------------------------

STAFF_ROLES = ("reviewer", "national_reviewer", "admin")


def _account_state(db_session: Session, user: User) -> dict[str, object]:
    """What the audit log keeps of an account before and after a change (never the password)."""
    return {
        "role": user.role,
        "regions": user_regions(db_session=db_session, user=user),
        "is_active": user.is_active,
    }


def _check_staff(role: str, regions: Sequence[str]) -> list[str]:
    """The regions to keep for a staff role: only a regional reviewer has (and needs) some."""
    if role not in STAFF_ROLES:
        raise DomainError(_("Choose the role of the staff member"), "role")
    if role != "reviewer":
        return []
    if not regions:
        raise DomainError(_("A regional reviewer needs at least one region"), "regions")
    scheme = current_scheme()
    for region in regions:
        if scheme.region(region) is None:
            raise DomainError(_("Unknown region: %(code)s", code=region), "regions")
    return sorted(set(regions))


def list_accounts(
    *, db_session: Session, role: str = "", page: int = 1, per_page: int = 50
) -> tuple[list[User], int]:
    """Every account (staff and operators), by e-mail address; only one role when `role` is given."""
    statement = select(User)
    if role:
        statement = statement.where(User.role == role)
    total = db_session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = db_session.scalars(
        statement.order_by(User.email).offset((page - 1) * per_page).limit(per_page)
    )
    return list(rows), total


def regions_by_user(*, db_session: Session, user_ids: Sequence[int]) -> dict[int, list[str]]:
    """The regions of several accounts at once (one query), by account id."""
    found: dict[int, list[str]] = {}
    if not user_ids:
        return found
    for user_id, region in db_session.execute(
        select(UserRegion.user_id, UserRegion.region)
        .where(UserRegion.user_id.in_(list(user_ids)))  # type: ignore[attr-defined]
        .order_by(UserRegion.user_id, UserRegion.region)
    ):
        found.setdefault(user_id, []).append(region)
    return found


def get_user(*, db_session: Session, user_id: int) -> User:
    """One account by id, or NotFound."""
    user = db_session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def create_staff(
    *,
    db_session: Session,
    actor: User,
    email: str,
    password: str,
    role: str,
    regions: Sequence[str] = (),
) -> User:
    """Create a staff account with a temporary password; the administrator vouches for the address."""
    regions = _check_staff(role, regions)
    user = create_user(
        db_session=db_session,
        email=email,
        password=password,
        role=role,
        regions=regions,
        confirmed=True,
    )
    audit.record(
        db_session=db_session,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        summary=user.email,
        after={"email": user.email, **_account_state(db_session, user)},
    )
    return user


def update_staff(
    *, db_session: Session, actor: User, user: User, role: str, regions: Sequence[str]
) -> User:
    """Change a staff member's role and regions. Nobody changes their own role (the last
    administrator could lock everyone out)."""
    if user.role not in STAFF_ROLES:
        raise DomainError(_("Only staff accounts have a role and regions to change"))
    regions = _check_staff(role, regions)
    if user.id == actor.id and role != user.role:
        raise DomainError(_("You cannot change your own role: ask another administrator"), "role")
    before = _account_state(db_session, user)
    if before["role"] == role and before["regions"] == regions:
        return user
    user.role = role
    db_session.execute(delete(UserRegion).where(UserRegion.user_id == user.id))
    for region in regions:
        db_session.add(UserRegion(user_id=user.id, region=region))
    db_session.flush()
    audit.record(
        db_session=db_session,
        actor=actor,
        action="user.update",
        object_type="user",
        object_id=user.id,
        summary=user.email,
        before=before,
        after=_account_state(db_session, user),
    )
    return user


def set_active(*, db_session: Session, actor: User, user: User, active: bool) -> User:
    """Enable an account or disable it; disabling ends its sessions at once. Nobody disables
    themselves."""
    if not active and user.id == actor.id:
        raise DomainError(_("You cannot disable your own account"))
    if user.is_active == active:
        return user
    before = _account_state(db_session, user)
    user.is_active = active
    if not active:
        end_all_sessions(db_session=db_session, user=user)
    db_session.flush()
    audit.record(
        db_session=db_session,
        actor=actor,
        action="user.enable" if active else "user.disable",
        object_type="user",
        object_id=user.id,
        summary=user.email,
        before=before,
        after=_account_state(db_session, user),
    )
    return user
