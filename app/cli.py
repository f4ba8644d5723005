"""The `portal` command: serve, database, users, demo data, mail, reporting periods, reminders,
audit log, certificates and signing keys, imports of existing signatories, API tokens."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlmodel import Session

from app.config import get_settings

if TYPE_CHECKING:
    from app.reports.models import ReportingPeriod

app = typer.Typer(
    help="Portal of the Code of Conduct against ESNNA in tourism.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts.", no_args_is_help=True)
mail_app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)
periods_app = typer.Typer(help="Reporting periods.", no_args_is_help=True)
reminders_app = typer.Typer(
    help="Reminders to establishments that must file.", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
certificates_app = typer.Typer(help="Certificates of compliance.", no_args_is_help=True)
keys_app = typer.Typer(help="The portal's signing keys.", no_args_is_help=True)
tokens_app = typer.Typer(help="Personal API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(mail_app, name="mail")
app.add_typer(periods_app, name="periods")
app.add_typer(reminders_app, name="reminders")
app.add_typer(audit_app, name="audit")
app.add_typer(certificates_app, name="certificates")
app.add_typer(keys_app, name="keys")
app.add_typer(tokens_app, name="tokens")

#: Dates on the command line: YYYY-MM-DD.
DATE_FORMATS = ["%Y-%m-%d"]
#: How long `portal serve` keeps an idle kept-alive connection open.
KEEP_ALIVE_SECONDS = 65


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Run the portal with uvicorn (uvloop and httptools)."""
    from app.register.cache import SharedPages

    get_settings()  # refuse to start with a default secret in production before forking workers
    # The workers share the public register's pages in a file made for this run only: its pages
    # are never older than the run (a database restored while the portal was stopped is safe).
    folder = Path(tempfile.mkdtemp(prefix="portal-register-"))
    SharedPages.create(folder / "pages.sqlite3")
    os.environ["PORTAL_REGISTER_SHARED_PAGES"] = str(folder / "pages.sqlite3")
    try:
        _run_uvicorn(host=host, port=port, workers=workers, reload=reload, access_log=access_log)
    finally:
        os.environ.pop("PORTAL_REGISTER_SHARED_PAGES", None)
        shutil.rmtree(folder, ignore_errors=True)


def _run_uvicorn(*, host: str, port: int, workers: int, reload: bool, access_log: bool) -> None:
    import uvicorn

    uvicorn.run(
        "app.main:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        access_log=access_log,
        # Measured under load (bench/load_bench.py, 200 users on a busy machine): with uvicorn's
        # 5 s, a worker starved of CPU fired the idle timer before reading a request already
        # waiting on the connection and closed it unanswered (3-12 % of requests failed); and a
        # worker slow to answer the supervisor's 5 s health check was killed with its requests.
        # 65 s outlasts the 60 s a reverse proxy usually keeps an idle upstream connection.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_worker_healthcheck=30,
        server_header=False,  # no "server: uvicorn": the portal does not announce its software
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or bring the database schema up to date, and load new versions of the Code text."""
    from app.migrate import upgrade

    added = upgrade(get_settings().database_url, revision)
    typer.echo(
        "Database is up to date." + (f" Code text added: {', '.join(added)}." if added else "")
    )


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Take the schema back to an earlier revision (for development)."""
    from app.migrate import downgrade

    downgrade(get_settings().database_url, revision)
    typer.echo(f"Database downgraded to {revision}.")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="E-mail address (the sign-in name).")],
    password: Annotated[str, typer.Option(help="Password (at least 10 characters).")],
    role: Annotated[str, typer.Option(help="operator, reviewer, national-reviewer or admin.")],
    region: Annotated[
        list[str] | None, typer.Option(help="Region code for a reviewer (repeat for several).")
    ] = None,
    locale: Annotated[str, typer.Option(help="es or en.")] = "es",
) -> None:
    """Create a confirmed account."""
    from app.auth.service import create_user
    from app.db import make_engine
    from app.errors import DomainError

    engine = make_engine(get_settings().database_url)
    with Session(engine) as session:
        try:
            user = create_user(
                db_session=session,
                email=email,
                password=password,
                role=role.replace("-", "_"),
                regions=[r.upper() for r in region or []],
                locale=locale,
                confirmed=True,
            )
        except DomainError as exc:
            typer.echo(f"Error: {exc.message}", err=True)
            raise typer.Exit(2) from None
        session.commit()
        typer.echo(f"Created {user.role} {user.email}")


@app.command("demo-data")
def demo_data() -> None:
    """Load a realistic demo (development only) and print an account for each role."""
    from app.demo import load_demo

    settings = get_settings()
    if settings.environment == "production":
        typer.echo("Error: demo data is for development only.", err=True)
        raise typer.Exit(2)
    from app.db import make_engine

    engine = make_engine(settings.database_url)
    accounts = load_demo(engine, settings)
    typer.echo("Demo accounts (development only):")
    for role, email, password in accounts:
        typer.echo(f"  {role:<18} {email:<32} {password}")


@app.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="The archive to write (.tar.gz).")],
) -> None:
    """Back up the database and the data files (evidence, certificates) into one archive."""
    from app.backup import BackupRefused, backup
    from app.db import make_engine

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        summary = backup(engine=engine, settings=settings, destination=file)
    except BackupRefused as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(
        f"Backup written to {file}: {summary.rows} rows in {summary.tables} tables, "
        f"{summary.files} files ({summary.file_bytes} bytes)."
    )


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="An archive made by `portal backup`.")],
    force: Annotated[
        bool, typer.Option(help="Replace the data of an instance that is not empty.")
    ] = False,
) -> None:
    """Restore a backup into an empty instance (run `portal db upgrade` first)."""
    from app.backup import BackupRefused, restore
    from app.db import make_engine

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        summary = restore(engine=engine, settings=settings, source=file, force=force)
    except BackupRefused as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(
        f"Restored {summary.rows} rows in {summary.tables} tables and {summary.files} files."
    )


@mail_app.command("flush")
def mail_flush() -> None:
    """Send the mail waiting in the outbox."""
    from app.db import make_engine
    from app.mail import deliver_pending

    settings = get_settings()
    engine = make_engine(settings.database_url)
    total = 0
    while sent := deliver_pending(engine, settings):
        total += sent
    typer.echo(f"{total} message(s) sent.")


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@periods_app.command("create")
def periods_create(
    year: Annotated[int, typer.Option(help="The year reported on.")],
    opens: Annotated[
        datetime | None,
        typer.Option(formats=DATE_FORMATS, help="Filing opens (default: 1 January of year+1)."),
    ] = None,
    deadline: Annotated[
        datetime | None,
        typer.Option(formats=DATE_FORMATS, help="Deadline (default: 31 March of year+1)."),
    ] = None,
    grace: Annotated[int, typer.Option(help="Grace period in days after the deadline.")] = 30,
    cutoff: Annotated[
        datetime | None,
        typer.Option(
            formats=DATE_FORMATS,
            help="Signatories on this date must file (default: 31 December of year).",
        ),
    ] = None,
    form_version: Annotated[
        str | None, typer.Option(help="Version of the report form (default: the newest).")
    ] = None,
) -> None:
    """Create the reporting period for a year."""
    from app.db import make_engine
    from app.errors import DomainError
    from app.reports.service import PeriodInput, create_period, grace_ends_on

    engine = make_engine(get_settings().database_url)
    with Session(engine) as session:
        try:
            period = create_period(
                db_session=session,
                data=PeriodInput(
                    year=year,
                    opens_on=_day(opens),
                    deadline=_day(deadline),
                    grace_days=grace,
                    cutoff_on=_day(cutoff),
                    form_version=form_version,
                ),
            )
        except DomainError as exc:
            typer.echo(f"Error: {exc.message}", err=True)
            raise typer.Exit(2) from None
        session.commit()
        typer.echo(
            f"Created reporting period {period.year}: filing from {period.opens_on} to "
            f"{period.deadline}, grace {period.grace_days} days (until {grace_ends_on(period)}), "
            f"cut-off {period.cutoff_on}, report form {_form_version(session, period)}."
        )


def _form_version(session: Session, period: ReportingPeriod) -> str:
    from app.reports.models import ReportForm

    form = session.get(ReportForm, period.report_form_id)
    return form.version if form else "?"


@periods_app.command("list")
def periods_list() -> None:
    """List the reporting periods, newest first."""
    from app.db import make_engine
    from app.reports.service import grace_ends_on, list_periods, period_state, report_forms

    engine = make_engine(get_settings().database_url)
    with Session(engine) as session:
        versions = {f.id: f.version for f in report_forms(db_session=session)}
        periods = list_periods(db_session=session)
        if not periods:
            typer.echo("No reporting periods.")
            return
        typer.echo(
            f"{'year':<6} {'opens':<10} {'deadline':<10} {'grace':>5} {'grace ends':<10} "
            f"{'cut-off':<10} {'form':<8} state"
        )
        for p in periods:
            typer.echo(
                f"{p.year:<6} {p.opens_on} {p.deadline} {p.grace_days:>5} {grace_ends_on(p)} "
                f"{p.cutoff_on} {versions.get(p.report_form_id, ''):<8} {period_state(p)}"
            )


@reminders_app.command("send")
def reminders_send(
    today: Annotated[
        datetime | None,
        typer.Option(
            formats=DATE_FORMATS, help="Act as if it were this date (default: today in Peru)."
        ),
    ] = None,
) -> None:
    """Mail the reminders due today to establishments that have not filed (run daily)."""
    from app import clock
    from app.db import make_engine
    from app.mail import deliver_pending
    from app.reports.reminders import send_reminders

    settings = get_settings()
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        counts = send_reminders(
            db_session=session, settings=settings, today=_day(today) or clock.today()
        )
        session.commit()
    while deliver_pending(engine, settings):
        pass
    typer.echo("Reminders sent: " + ", ".join(f"{kind} {n}" for kind, n in counts.items()))


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit log's hash chain; exit 1 if an entry was changed, removed or inserted."""
    from app.audit.service import verify
    from app.db import make_engine

    engine = make_engine(get_settings().database_url)
    with Session(engine) as session:
        report = verify(db_session=session)
    engine.dispose()
    if report.intact:
        typer.echo(f"Audit log intact: {report.entries} entries.")
        return
    for problem in report.problems:
        typer.echo(problem)
    typer.echo("Audit log BROKEN")
    raise typer.Exit(1)


@keys_app.command("create-dev")
def keys_create_dev(
    force: Annotated[bool, typer.Option(help="Replace an existing development key.")] = False,
) -> None:
    """Make a self-signed signing key for development (var/keys/); never use it in production."""
    from app.certificates.signing import create_dev_keys

    settings = get_settings()
    key_file = settings.dev_keys_dir / "signing-key.pem"
    if key_file.exists() and not force:
        typer.echo(f"A development key exists already: {key_file} (use --force to replace it).")
        return
    key, cert = create_dev_keys(settings.dev_keys_dir, "Portal ESNNA (desarrollo)")
    typer.echo(f"Key: {key}\nCertificate: {cert}")
    typer.echo(
        "In development the portal signs certificates with it. Elsewhere, set "
        "PORTAL_SIGNING_KEY_FILE and PORTAL_SIGNING_CERT_FILE."
    )


@certificates_app.command("issue")
def certificates_issue(
    period: Annotated[int, typer.Option(help="The year reported on.")],
    workers: Annotated[
        int, typer.Option(help="Processes (default: one per core).", min=0, max=256)
    ] = 0,
) -> None:
    """Issue every missing certificate of approved reports; safe to run on several hosts at once."""
    from app.certificates.batch import issue_missing
    from app.errors import NotFound

    settings = get_settings()
    from app.certificates.batch import missing_report_ids
    from app.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            total = len(missing_report_ids(db_session=session, year=period))
    except NotFound:
        typer.echo(f"There is no reporting period {period}.", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    with typer.progressbar(length=total, label=f"Certificates {period}") as bar:
        result = issue_missing(
            settings=settings, year=period, workers=workers or None, progress=bar.update
        )
    typer.echo(
        f"{result.issued} certificate(s) issued; {result.skipped} issued meanwhile by another "
        f"process; {result.candidates} were missing."
    )


@certificates_app.command("verify")
def certificates_verify(
    file: Annotated[typer.FileBinaryRead, typer.Argument(help="The certificate PDF to check.")],
) -> None:
    """Check a certificate PDF: its digital signature, and its code against the database."""
    from app.certificates.checks import check_file
    from app.db import make_engine

    settings = get_settings()
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        report = check_file(db_session=session, settings=settings, pdf=file.read())
    engine.dispose()
    for line in report.lines:
        typer.echo(line)
    if not report.ok:
        typer.echo("NOT VERIFIED")
        raise typer.Exit(1)
    typer.echo("VERIFIED")


@app.command("import")
def import_signatories(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX of signatories.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only check the file and say what it would do.")
    ] = False,
) -> None:
    """Import existing signatories from the ministry's spreadsheet (all valid rows, or nothing)."""
    from app.db import make_engine
    from app.errors import DomainError
    from app.imports import service
    from app.imports.parsing import ImportFileError, open_sheet

    engine = make_engine(get_settings().database_url)
    try:
        with open_sheet(file) as sheet:
            total = sum(1 for _row in sheet.rows)
    except ImportFileError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    with Session(engine) as session:
        with typer.progressbar(length=total, label="Checking ", file=sys.stderr) as bar:
            preview = service.preview_file(
                db_session=session, path=file, filename=file.name, progress=bar.update
            )
        counts = preview.counts
        typer.echo(
            f"{preview.total} rows: {counts['create']} to add, {counts['update']} to update, "
            f"{counts['unchanged']} unchanged, {counts['error']} with errors."
        )
        for error in preview.errors[:50]:
            typer.echo(f"  row {error.row}, {error.column}: {error.message}")
        if len(preview.errors) > 50:
            typer.echo(f"  … and {len(preview.errors) - 50} more errors.")
        if preview.already_applied is not None:
            typer.echo(
                f"This same file was already imported on {preview.already_applied.created_at:%Y-%m-%d %H:%M} UTC "
                f"by {preview.already_applied.actor}."
            )
        if dry_run:
            typer.echo("Dry run: nothing was written.")
            return
        try:
            with typer.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
                result = service.apply_file(
                    db_session=session,
                    path=file,
                    filename=file.name,
                    actor=None,
                    sha256=preview.sha256,
                    progress=bar.update,
                    checked=preview,
                )
        except DomainError as exc:
            session.rollback()
            typer.echo(f"Error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        session.commit()
        if result.batch is None:
            typer.echo("Nothing to import: every valid row is already in the register.")
        else:
            batch = result.batch
            typer.echo(
                f"Imported (batch {batch.id}, SHA-256 {batch.sha256}): {batch.created} added, "
                f"{batch.updated} updated, {batch.unchanged} unchanged, "
                f"{batch.errors} rows with errors left out."
            )
    engine.dispose()


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="The account the token acts for.")],
    name: Annotated[str, typer.Option(help="Which system will use it.")] = "CLI",
) -> None:
    """Create a personal API token for an account and print it (shown once; only its hash is kept)."""
    from sqlalchemy import func, select

    from app.api.tokens import create_token
    from app.auth.models import User
    from app.db import make_engine
    from app.errors import DomainError

    engine = make_engine(get_settings().database_url)
    with Session(engine) as session:
        user = session.scalars(
            select(User).where(func.lower(User.email) == email.strip().lower())
        ).first()
        if user is None or not user.is_active:
            typer.echo(f"Error: there is no active account {email}.", err=True)
            raise typer.Exit(2)
        try:
            _record, token = create_token(db_session=session, user=user, name=name)
        except DomainError as exc:
            typer.echo(f"Error: {exc.message}", err=True)
            raise typer.Exit(2) from None
        session.commit()
    engine.dispose()
    typer.echo(token)


if __name__ == "__main__":
    app()
