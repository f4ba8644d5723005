"""PostgreSQL restarted while operators file their reports: during the outage every request gets the
"try again" page (503, Retry-After, in the person's language; problem+json under /api/), the
portal (uvicorn, 2 workers) recovers by itself, and every filing acknowledged to an operator is in
the database with its hash afterwards.

The test owns its PostgreSQL cluster (initdb in a temporary folder, its own port): the machine's
shared server is never touched.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text, update
from sqlmodel import Session

from app.config import Settings
from app.main import create_app, dispose_engines
from app.migrate import upgrade
from app.reports.models import AnnualReport, ReportSubmission
from tests.conftest import (
    IN_CI,
    SIGNATURE,
    add_establishment,
    create_open_period,
    make_user,
    post_form,
    sign_in,
)
from tests.reports.conftest import fill_all

pytestmark = [pytest.mark.server, pytest.mark.postgresql]

ROOT = Path(__file__).resolve().parents[2]
OPERATORS = 6
ESTABLISHMENTS_EACH = 4
PASSWORD = "Tambopata-Rio-2026"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A private PostgreSQL cluster, run as the postgres OS user (initdb refuses root)."""

    def __init__(self, bin_dir: Path, base: Path) -> None:
        self.bin = bin_dir
        self.data = base / "data"
        self.log = base / "server.log"
        self.port = _free_port()
        self.options = f"-p {self.port} -k {base} -c listen_addresses=127.0.0.1"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/portal"

    def run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def pg_ctl(self, action: str, *extra: str) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", *extra, action)

    def init(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        self.pg_ctl("start", "-o", self.options)
        admin = create_engine(
            self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE portal"))
        admin.dispose()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        if IN_CI:
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) must be installed in CI")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
    base = Path(tempfile.mkdtemp(prefix="portal-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    instance = Cluster(Path(found[-1]).parent, base)
    try:
        instance.init()
        yield instance
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            instance.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(base, ignore_errors=True)


def _seed(url: str, var_dir: Path) -> list[tuple[str, list[int]]]:
    """Operators, each with lodgings that signed the Code and a complete draft report."""

    upgrade(url)
    settings = Settings(
        environment="test", database_url=url, var_dir=var_dir, base_url="http://testserver"
    )
    application = create_app(settings)
    with Session(application.state.engine) as db:
        period = create_open_period(db)
        people = []
        for n in range(OPERATORS):
            email = f"operador{n}@hostal.pe"
            make_user(db, email)
            ids = []
            with TestClient(application, follow_redirects=False) as client:
                sign_in(client, email)
                for m in range(ESTABLISHMENTS_EACH):
                    establishment_id = add_establishment(
                        client, branch_code=f"{n:02d}{m:02d}", trade_name=f"Hostal {n}-{m}"
                    )
                    response = post_form(
                        client, f"/establishments/{establishment_id}/sign", SIGNATURE
                    )
                    assert response.status_code == 303
                    url_of = f"/establishments/{establishment_id}/reports/{period.year}"
                    response = post_form(
                        client, f"{url_of}/start", {"from_previous": "no"}, form_page=url_of
                    )
                    assert response.status_code == 303
                    ids.append(establishment_id)
                if n == 0:
                    fill_all(client, ids[0], period)
            people.append((email, ids))
        # Every report answers as the first one does (filling each through the pages is slow).
        reports = list(db.scalars(select(AnnualReport).order_by(AnnualReport.id)))  # type: ignore[arg-type]
        filled = next(r for r in reports if r.establishment_id == people[0][1][0])
        db.execute(update(AnnualReport).values(content=filled.content))
        db.commit()
    dispose_engines(application)
    return people


@dataclass
class Seen:
    """Every answer the portal gave during the test, as the people who asked saw it."""

    answers: list[tuple[str, str, int]] = field(default_factory=list)
    unavailable: list[httpx.Response] = field(default_factory=list)
    acknowledged: dict[int, str] = field(default_factory=dict)  # establishment -> SHA-256 shown
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, response: httpx.Response) -> httpx.Response:
        with self.lock:
            self.answers.append(
                (response.request.method, response.request.url.path, response.status_code)
            )
            if response.status_code == 503:
                self.unavailable.append(response)
        return response


def _csrf_and_version(html: str) -> tuple[str, str]:
    soup = BeautifulSoup(html, "html.parser")
    token = soup.find("input", {"name": "csrf_token"})
    version = soup.find("input", {"name": "version"})
    return str(token["value"]) if token else "", str(version["value"]) if version else ""


def _until_answered(seen: Seen, send, stop_at: float):  # type: ignore[no-untyped-def]
    """Press again, as a person does, while the portal says to try again."""
    while True:
        response = seen.record(send())  # the portal itself stays up: never a refused connection
        if response.status_code != 503 or time.monotonic() > stop_at:
            return response
        time.sleep(0.2)


def _operator(base_url: str, email: str, establishments: list[int], year: int, seen: Seen) -> None:
    stop_at = time.monotonic() + 240
    # Generous timeouts: the machine running the tests may be busy; an outage answers at once.
    with httpx.Client(base_url=base_url, timeout=120, follow_redirects=False) as client:
        login = _until_answered(seen, lambda: client.get("/account/login"), stop_at)
        token, _ = _csrf_and_version(login.text)
        signed_in = _until_answered(
            seen,
            lambda: client.post(
                "/account/login",
                data={"csrf_token": token, "email": email, "password": PASSWORD},
            ),
            stop_at,
        )
        assert signed_in.status_code == 303, signed_in.text[:500]
        for establishment_id in establishments:
            base = f"/establishments/{establishment_id}/reports/{year}"
            summary_of = lambda base=base: client.get(f"{base}/summary")  # noqa: E731
            overview_of = lambda base=base: client.get(base)  # noqa: E731
            while time.monotonic() < stop_at:
                summary = _until_answered(seen, summary_of, stop_at)
                assert summary.status_code == 200, summary.status_code
                token, version = _csrf_and_version(summary.text)
                if not version:
                    break  # filed already (a try that the outage cut short went through)
                filed = seen.record(
                    client.post(
                        f"{base}/submit",
                        data={"csrf_token": token, "version": version, "confirm": "yes"},
                    )
                )
                if filed.status_code == 303:
                    overview = _until_answered(seen, overview_of, stop_at)
                    shown = re.findall(r"SHA-256 ([0-9a-f]{64})", overview.text)
                    assert len(shown) == 1, overview.text[:1000]
                    with seen.lock:
                        seen.acknowledged[establishment_id] = shown[0]
                    break
                assert filed.status_code in (400, 503), filed.status_code
                time.sleep(0.2)
            time.sleep(1.0)


def _reader(base_url: str, seen: Seen, stop: threading.Event) -> None:
    """Visitors of the public register, on the pages and through the API."""
    with httpx.Client(base_url=base_url, timeout=120) as client:
        while not stop.is_set():
            seen.record(client.get("/register", params={"q": "hostal"}))
            seen.record(client.get("/api/v1/register", params={"q": "hostal"}))
            time.sleep(0.05)


@pytest.fixture
def portal_server(cluster: Cluster) -> Iterator[tuple[str, list[tuple[str, list[int]]], int]]:
    var_dir = Path(tempfile.mkdtemp(prefix="portal-var-"))
    people = _seed(cluster.url, var_dir)
    port = _free_port()
    # The server's log goes to a file: a pipe read only at the end fills up with the outage's
    # error lines (64 KB), and a worker writing one more then blocks, its event loop with it.
    log_file = (var_dir / "server.log").open("w+")
    env = {
        **os.environ,
        "PORTAL_ENVIRONMENT": "test",
        "PORTAL_DATABASE_URL": cluster.url,
        "PORTAL_VAR_DIR": str(var_dir),
        "PORTAL_MAIL_BACKEND": "file",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        server.kill()
        log_file.seek(0)
        pytest.fail("the portal did not start: " + log_file.read())
    from app.clock import today

    try:
        yield base_url, people, today().year - 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_file.seek(0)
        log = log_file.read()
        log_file.close()
        assert "Traceback" not in log, log
        shutil.rmtree(var_dir, ignore_errors=True)


def test_filings_survive_a_database_restart_under_load(cluster: Cluster, portal_server) -> None:  # type: ignore[no-untyped-def]
    base_url, people, year = portal_server
    seen = Seen()
    stop = threading.Event()
    readers = [threading.Thread(target=_reader, args=(base_url, seen, stop)) for _ in range(2)]
    operators = [
        threading.Thread(target=_operator, args=(base_url, email, ids, year, seen))
        for email, ids in people
    ]
    for thread in readers + operators:
        thread.start()

    time.sleep(1.0)
    cluster.pg_ctl("restart", "-m", "fast", "-o", cluster.options)
    time.sleep(1.5)
    # A crash, and the database away for a while: the portal keeps answering meanwhile.
    cluster.pg_ctl("stop", "-m", "immediate")
    time.sleep(2.0)
    cluster.pg_ctl("start", "-o", cluster.options)

    for thread in operators:
        thread.join(timeout=300)
    stop.set()
    for thread in readers:
        thread.join(timeout=150)

    statuses = {status for _, _, status in seen.answers}
    assert statuses <= {200, 303, 400, 503}, sorted(statuses)
    assert seen.unavailable, "no request fell in the outage: the test proved nothing"
    paths = [response.request.url.path for response in seen.unavailable]
    assert any(p.startswith("/api/") for p in paths) and any(
        not p.startswith("/api/") for p in paths
    ), paths
    for response in seen.unavailable:
        assert response.headers["retry-after"]
        assert "Traceback" not in response.text
        if response.request.url.path.startswith("/api/"):
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["status"] == 503
        else:
            assert response.headers["content-type"].startswith("text/html")
            title = BeautifulSoup(response.text, "html.parser").h1.get_text(strip=True)
            assert title == "El servicio no está disponible en este momento"
    # A 400 is only ever "already filed": a try cut short by the outage that had gone through.
    assert all(p.endswith("/submit") for _, p, s in seen.answers if s == 400)

    # Everyone finished, and everything acknowledged is in the database, with the hash shown.
    everything = {e for _, ids in people for e in ids}
    engine = create_engine(cluster.url)
    with Session(engine) as db:
        rows = db.execute(
            select(AnnualReport.establishment_id, ReportSubmission.content_sha256).join(
                ReportSubmission, ReportSubmission.report_id == AnnualReport.id
            )
        ).all()
    engine.dispose()
    stored: dict[int, list[str]] = {}
    for establishment_id, sha in rows:
        stored.setdefault(establishment_id, []).append(sha)
    assert set(stored) == everything and all(len(s) == 1 for s in stored.values())
    for establishment_id, sha in seen.acknowledged.items():
        assert stored[establishment_id] == [sha]
    assert len(seen.acknowledged) >= len(everything) - 2  # at most a rare cut-short try each crash

    print(  # shown with -s: what the outage looked like
        f"{len(seen.answers)} answers, {len(seen.unavailable)} of them 503; "
        f"{len(seen.acknowledged)}/{len(everything)} filings acknowledged, all in the database"
    )

    # No restart of the portal: both workers answer again.
    for _ in range(20):
        assert httpx.get(f"{base_url}/register", params={"q": "hostal"}).status_code == 200
        assert httpx.get(f"{base_url}/api/v1/register").status_code == 200
