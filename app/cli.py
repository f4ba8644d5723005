"""The `portal` command: serve, database, users, demo data, mail."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from sqlmodel import Session

from app.config import get_settings

app = typer.Typer(
    help="Portal of the Code of Conduct against ESNNA in tourism.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts.", no_args_is_help=True)
mail_app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(mail_app, name="mail")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Run the portal with uvicorn (uvloop and httptools)."""
    import uvicorn

    get_settings()  # refuse to start with a default secret in production before forking workers
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
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
    accounts = load_demo(engine)
    typer.echo("Demo accounts (development only):")
    for role, email, password in accounts:
        typer.echo(f"  {role:<18} {email:<32} {password}")


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
