"""The people of the load test (run by bench/load_bench.py, which writes the targets file).

Three kinds of user, 8 : 1 : 1, each waiting 1–3 s between pages as a person reading does:
public visitors search the register and open an establishment from the results; others verify a
certificate by typing its code; operators sign in once and then save drafts of their report.
Every response is checked for what a person would see, so a page that renders an error counts
as a failure even when its status code looks right.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from pathlib import Path
from urllib.parse import urlsplit

from bs4 import BeautifulSoup
from locust import HttpUser, between, task

TARGETS = json.loads(Path(os.environ["LOAD_TARGETS"]).read_text(encoding="utf-8"))
REGIONS = ["PE-CUS", "PE-LIM", "PE-ARE", "PE-PUN", "PE-LOR", "PE-PIU", "PE-LAL", "PE-ICA"]
STANDINGS = ["good_standing", "pending_review", "overdue", "non_compliant"]
ENTRY_LINK = re.compile(r'href="/register/(\d+)"')
SECTION_LINK = re.compile(r'href="(/establishments/\d+/reports/\d+/sections/[\w-]+)"')
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NARRATIVES = [
    "Capacitamos al personal de recepción y de limpieza en la identificación de señales de riesgo.",
    "Colocamos el afiche del Código en la recepción y en la web del establecimiento.",
    "Revisamos con los guías el protocolo de denuncia ante la línea 100 y la comisaría.",
    "We trained the front desk on the Code and on how to report a case to the authorities.",
    "Se incorporó la cláusula del Código en los contratos con proveedores y agencias.",
]
_operators = itertools.count()


def _search_url() -> str:
    """What visitors type: a word or its beginning, a trade and a word, a RUC, or filters."""
    word = random.choice(TARGETS["words"])
    shape = random.random()
    if shape < 0.35:
        return "/register?q=" + word[: random.randint(3, len(word))].lower()
    if shape < 0.55:
        return f"/register?q={random.choice(TARGETS['kinds'])} {word}"
    if shape < 0.65:
        return f"/register?q={word}&region={random.choice(REGIONS)}"
    if shape < 0.75:
        return "/register?q=2010" + str(random.randint(0, 99_999)).zfill(5)[:3]
    if shape < 0.95:
        return (
            f"/register?region={random.choice(REGIONS)}"
            f"&category={random.choice(TARGETS['categories'])}"
        )
    return f"/register?region={random.choice(REGIONS)}&standing={random.choice(STANDINGS)}"


class PublicVisitor(HttpUser):
    """Searches the register, then opens one of the establishments found."""

    weight = 8
    wait_time = between(1, 3)

    @task
    def search_then_open(self) -> None:
        with self.client.get(_search_url(), name="search", catch_response=True) as response:
            if response.status_code != 200 or 'class="error-summary' in response.text:
                response.failure(f"search: {_what(response)}")
                return
            found = ENTRY_LINK.findall(response.text)
        self.wait()
        entry = random.choice(found) if found else random.randint(1, TARGETS["establishments"])
        with self.client.get(
            f"/register/{entry}", name="establishment page", catch_response=True
        ) as response:
            if response.status_code != 200 or "CC-" not in response.text:
                response.failure(f"establishment page: {_what(response)}")


class CertificateChecker(HttpUser):
    """Opens the verification form and types a code as printed (spaces, lower case)."""

    weight = 1
    wait_time = between(1, 3)

    @task
    def verify(self) -> None:
        self.client.get("/verify", name="verify form")
        self.wait()
        if random.random() < 0.9:
            code = random.choice(TARGETS["codes"])
            typed = " ".join(code[i : i + 4] for i in range(0, 32, 4)).lower()
            with self.client.get(
                "/verify", params={"code": typed}, name="verify code", catch_response=True
            ) as response:
                if response.status_code != 200 or code not in response.url:
                    response.failure(f"verify: {_what(response)} {response.url}")
        else:  # a mistyped code: the page says it is unknown (404), which is the right answer
            code = "".join(random.choice(CODE_ALPHABET) for _ in range(32))
            with self.client.get(
                f"/verify/{code}", name="verify unknown code", catch_response=True
            ) as response:
                if response.status_code == 404:
                    response.success()
                else:
                    response.failure(f"unknown code: {_what(response)}")


class Operator(HttpUser):
    """Signs in once, then opens their report, a section, and saves it as a draft."""

    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        account = TARGETS["operators"][next(_operators) % len(TARGETS["operators"])]
        self.base = f"/establishments/{account['establishment_id']}/reports/{TARGETS['year']}"
        page = self.client.get("/account/login", name="sign-in form")
        token = _csrf(page.text)
        with self.client.post(
            "/account/login",
            data={
                "csrf_token": token,
                "next": "",
                "email": account["email"],
                "password": TARGETS["password"],
            },
            name="sign in",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 303:
                response.failure(f"sign in: {_what(response)}")
        self.wait()

    @task
    def save_a_draft(self) -> None:
        with self.client.get(self.base, name="report", catch_response=True) as response:
            sections = SECTION_LINK.findall(response.text)
            if response.status_code != 200 or not sections:
                response.failure(f"report: {_what(response)}")
                return
        self.wait()
        section = random.choice(sections)
        with self.client.get(section, name="section form", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"section form: {_what(response)}")
                return
            fields = _save_form(response.text, section)
        self.wait()
        fields["status"] = random.choice(["done", "partly", "not_done"])
        fields["narrative"] = random.choice(NARRATIVES)
        with self.client.post(
            section, data=fields, name="save draft", allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 303 or urlsplit(
                response.headers.get("location", "")
            ).path != (self.base):
                response.failure(f"save draft: {_what(response)} (not saved)")
                return
        with self.client.get(self.base, name="report after saving", catch_response=True) as page:
            if page.status_code != 200 or 'class="flash flash--success' not in page.text:
                page.failure(f"after saving: {_what(page)}, no confirmation shown")
        self.wait()


def _what(response) -> str:  # type: ignore[no-untyped-def]
    """The status, or the connection error when there was no response."""
    return str(response.status_code) if response.status_code else repr(response.error)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return match.group(1) if match else ""


def _save_form(html: str, action: str) -> dict[str, str]:
    """The fields of the section's save form as the browser would send them."""
    form = BeautifulSoup(html, "html.parser").find("form", action=action)
    fields: dict[str, str] = {}
    if form is None:
        return fields
    for element in form.find_all(["input", "textarea", "select"]):
        name = element.get("name")
        if not name:
            continue
        if element.name == "textarea":
            fields[name] = element.text
        elif element.name == "select":
            chosen = element.find("option", selected=True)
            fields[name] = chosen.get("value", "") if chosen else ""
        elif element.get("type") in ("radio", "checkbox"):
            if element.has_attr("checked"):
                fields[name] = element.get("value", "")
        else:
            fields[name] = element.get("value", "")
    return fields
