# ruff: noqa: F811  (pytest fixtures imported by name, then taken as parameters)
"""`portal backup` and `portal restore`: a portal with a bit of everything (accounts, sessions,
establishments, signatures, a filed and approved report, its decision, a signed certificate,
evidence, the audit log, the outbox, an API token) is backed up, restored into an empty instance,
and compared table by table, row by row and file by file; then the restored portal is used."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from app.api.tokens import create_token
from app.auth.models import User
from app.backup import tables
from app.certificates.models import Certificate
from app.cli import app as portal_cli
from app.config import Settings, get_settings
from app.main import create_app, dispose_engines
from app.migrate import upgrade
from app.reports.models import Evidence
from tests.certificates.conftest import (  # noqa: F401  (fixtures)
    approved,
    filed,
    operator_with_establishment,
    reviewer,
    signing,
    signing_keys,
    staff,
)
from tests.conftest import (
    PG_URL,
    SERVER_PG_URL,
    SIGNATURE,
    _postgres_reachable,
    _reset_postgres,
    add_establishment,
    create_postgres_database,
    csrf_of,
    make_user,
    post_form,
    sign_in,
)
from tests.reports.conftest import report_url
from tests.reports.files import CATALOG, PAGE, PAGES, pdf, png, stream
from tests.reviews.test_review import OPERATOR

# Real files (the upload looks inside them), with every byte value in the PDF's stream.
PDF = pdf(CATALOG, PAGES, PAGE, stream(b"", bytes(range(256)) * 40))
PNG = png(40, 30)


def portal(url: str, var_dir: Path, *args: str):  # type: ignore[no-untyped-def]
    """`portal ...` against one instance (its database and its var/ folder)."""
    env = {
        "PORTAL_ENVIRONMENT": "test",
        "PORTAL_DATABASE_URL": url,
        "PORTAL_VAR_DIR": str(var_dir),
        "PORTAL_MAIL_BACKEND": "file",
    }
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(portal_cli, list(args), env=env)
    finally:
        get_settings.cache_clear()


def dump(url: str) -> dict[str, list[dict]]:
    """Every row of every table, in primary-key order, as the application reads it."""
    engine = create_engine(url)
    with engine.connect() as connection:
        found = {
            table.name: [
                dict(row)
                for row in connection.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).mappings()
            ]
            for table in tables()
        }
        found["alembic_version"] = [
            {"v": connection.execute(text("SELECT version_num FROM alembic_version")).scalar()}
        ]
    engine.dispose()
    return found


def files_of(var_dir: Path) -> dict[str, bytes]:
    return {
        path.relative_to(var_dir).as_posix(): path.read_bytes()
        for folder in ("evidence", "certificates")
        for path in sorted((var_dir / folder).rglob("*"))
        if path.is_file()
    }


def _empty_target(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'restored.db'}"
    else:
        problem = _postgres_reachable(SERVER_PG_URL)
        if problem:
            pytest.skip(f"PostgreSQL not reachable at {SERVER_PG_URL}: {problem}")
        server, name = PG_URL.rsplit("/", 1)
        url = f"{server}/{name}_restore"
        create_postgres_database(url)
        _reset_postgres(url)
    upgrade(url)
    return url


@pytest.fixture
def rich(app, client, db, approved):  # type: ignore[no-untyped-def]
    """The portal after a year of use, in small."""
    # A second lodging with a draft report and two evidence files.
    establishment_id = add_establishment(client, branch_code="0002", trade_name="Hostal Ñusta II")
    assert (
        post_form(client, f"/establishments/{establishment_id}/sign", SIGNATURE).status_code == 303
    )
    url = report_url(establishment_id, approved["period"])
    post_form(client, f"{url}/start", {"from_previous": "no"}, form_page=url)
    for name, content, kind in (
        ("política.pdf", PDF, "application/pdf"),
        ("afiche.png", PNG, "image/png"),
    ):
        token = csrf_of(client, f"{url}/sections/policy")
        response = client.post(
            f"{url}/sections/policy/evidence",
            data={"csrf_token": token},
            files={"file": (name, content, kind)},
        )
        assert response.status_code == 303
    # The English certificate is rendered and kept too.
    assert client.get(approved["pdf_url"] + "?lang=en").status_code == 200
    with TestClient(app, follow_redirects=False) as stranger:
        # A failed sign-in (counted) and a password reset link (an account token, a mail).
        post_form(stranger, "/account/login", {"email": OPERATOR, "password": "no-es-la-clave"})
        post_form(stranger, "/account/password/forgot", {"email": OPERATOR})
    user = db.scalars(select(User).where(User.email == OPERATOR)).one()
    create_token(db_session=db, user=user, name="contabilidad")
    db.commit()
    return {**approved, "draft_url": url, "second": establishment_id}


def test_backup_restores_into_an_empty_instance_exactly(  # type: ignore[no-untyped-def]
    app, database_url, rich, signing_keys, tmp_path
):
    source_var = app.state.settings.var_dir
    archive = tmp_path / "copia.tar.gz"
    made = portal(database_url, source_var, "backup", str(archive))
    assert made.exit_code == 0, made.output
    assert "Backup written to" in made.output

    before = dump(database_url)
    empty = sorted(name for name, rows in before.items() if not rows)
    # Imports and claims have their own tests; everything a year of filing touches is here.
    assert set(empty) <= {
        "import_batch",
        "establishment_claim",
        "reminder_sent",
        "idempotency_key",
        "api_rate_counter",
    }, empty
    source_files = files_of(source_var)
    assert any(p.startswith("evidence/") for p in source_files)
    assert any(p.startswith("certificates/") for p in source_files)

    with tarfile.open(archive) as opened:
        manifest = json.load(opened.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["alembic_revision"] == before["alembic_version"][0]["v"]
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == {
        name: len(rows) for name, rows in before.items() if name != "alembic_version"
    }

    kind = app.state.engine.dialect.name
    targets = [kind] + (["postgresql"] if kind == "sqlite" else [])
    for target_kind in targets:  # the same database, and SQLite into PostgreSQL
        target_var = tmp_path / f"restored-{target_kind}"
        target = _empty_target(target_kind, tmp_path)
        done = portal(target, target_var, "restore", str(archive))
        assert done.exit_code == 0, done.output
        assert dump(target) == before
        assert files_of(target_var) == source_files
        _restored_portal_works(target, target_var, rich, signing_keys)

        # Restoring over data is refused, unless asked for; then it is exact again.
        again = portal(target, target_var, "restore", str(archive))
        assert again.exit_code == 2
        assert "not empty" in again.output
        forced = portal(target, target_var, "restore", "--force", str(archive))
        assert forced.exit_code == 0, forced.output
        assert dump(target) == before
        assert files_of(target_var) == source_files


def _restored_portal_works(url: str, var_dir: Path, rich, signing_keys) -> None:  # type: ignore[no-untyped-def]
    verified = portal(url, var_dir, "audit", "verify")
    assert verified.exit_code == 0, verified.output

    settings = Settings(
        environment="test",
        database_url=url,
        var_dir=var_dir,
        base_url="http://testserver",
        mail_backend="file",
        signing_key_file=signing_keys[0],
        signing_cert_file=signing_keys[1],
    )
    restored = create_app(settings)
    try:
        with TestClient(restored, follow_redirects=False) as browser:
            sign_in(browser, OPERATOR)
            with Session(restored.state.engine) as db:
                evidence = list(db.scalars(select(Evidence).order_by(Evidence.id)))  # type: ignore[arg-type]
                certificate = db.scalars(select(Certificate)).one()
            served = browser.get(f"{rich['draft_url']}/evidence/{evidence[0].id}")
            assert served.status_code == 200 and served.content == PDF
            verify = browser.get(f"/verify/{certificate.code}")
            assert verify.status_code == 200 and certificate.number in verify.text
            pdf = browser.get(rich["pdf_url"])
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        # New rows get new ids (PostgreSQL's sequences were moved past the restored ones).
        with Session(restored.state.engine) as db:
            highest = db.scalar(select(func.max(User.id)))
            assert make_user(db, "nueva@hostal.pe").id > highest
            db.delete(db.scalars(select(User).where(User.email == "nueva@hostal.pe")).one())
            db.commit()
    finally:
        dispose_engines(restored)


def test_a_backup_of_another_schema_revision_or_damaged_is_refused(  # type: ignore[no-untyped-def]
    app, database_url, tmp_path
):
    archive = tmp_path / "copia.tar.gz"
    assert portal(database_url, app.state.settings.var_dir, "backup", str(archive)).exit_code == 0
    with tarfile.open(archive) as opened:
        members = {m.name: opened.extractfile(m).read() for m in opened if m.isfile()}  # type: ignore[union-attr]

    def rewrite(path: Path, changed: dict[str, bytes]) -> Path:
        with tarfile.open(path, "w:gz") as out:
            for name, data in {**members, **changed}.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
        return path

    manifest = json.loads(members["manifest.json"])
    other = rewrite(
        tmp_path / "other.tar.gz",
        {"manifest.json": json.dumps({**manifest, "alembic_revision": "0000"}).encode()},
    )
    damaged = rewrite(tmp_path / "damaged.tar.gz", {"tables/user_account.jsonl": b'{"id": 999}\n'})
    target = _empty_target("sqlite", tmp_path)
    target_var = tmp_path / "restored"
    refused = portal(target, target_var, "restore", str(other))
    assert refused.exit_code == 2 and "schema revision 0000" in refused.output
    refused = portal(target, target_var, "restore", str(damaged))
    assert refused.exit_code == 2 and "damaged" in refused.output
    engine = create_engine(target)
    with engine.connect() as connection:
        assert not connection.execute(
            select(func.count()).select_from(SQLModel.metadata.tables["user_account"])
        ).scalar()
    engine.dispose()
