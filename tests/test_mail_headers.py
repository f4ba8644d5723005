"""Mail headers are made from any text: a name with a line separator of any kind, a control or a
bidirectional character neither breaks the action that mails it nor holds up the outbox; and the
one-line fields of the forms refuse those characters in the first place."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.establishments.models import Establishment, EstablishmentOperator
from app.mail import OutboxMessage, deliver_pending, header_text
from tests.conftest import (
    SIGNATURE,
    establishment_form,
    field_error,
    field_value,
    make_user,
    post_form,
    sign_in,
)

# Every character str.splitlines() breaks a line at, a control character, and the right-to-left
# override that makes a name read backwards.
LINE_SEPARATORS = [chr(c) for c in range(0x110000) if len(("a" + chr(c) + "b").splitlines()) == 2]
ODD = [*LINE_SEPARATORS, "\x00", "\x07", "\x1b", "\u202e"]


def test_every_line_separator_is_covered():
    assert LINE_SEPARATORS == [
        "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029",
    ]  # fmt: skip


@pytest.mark.parametrize("odd", ODD, ids=[f"U+{ord(c):04X}" for c in ODD])
def test_any_text_makes_one_clean_header_line(odd):
    value = header_text(f"Hostal{odd}Ñusta  –\t{odd}{odd} 2026-000001")
    assert value == "Hostal Ñusta – 2026-000001" or value == "HostalÑusta – 2026-000001"
    assert value.splitlines() == [value]
    assert len(header_text("x" * 1000)) == 300


@pytest.mark.parametrize("odd", ODD, ids=[f"U+{ord(c):04X}" for c in ODD])
def test_a_name_with_any_odd_character_is_signed_and_mailed(client, db, mailbox, database_url, odd):
    """As imported from the ministry's records (the forms refuse such names): signing answers
    with the signature page, and the acknowledgement reaches the operator."""
    if odd == "\x00" and not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL keeps no NUL character in text")
    user = make_user(db, "rosa@hostal.pe")
    establishment = Establishment(**establishment_form(trade_name=f"Hostal{odd}Ñusta"))
    db.add(establishment)
    db.flush()
    db.add(EstablishmentOperator(establishment_id=establishment.id, user_id=user.id))
    db.commit()
    sign_in(client, "rosa@hostal.pe")

    response = post_form(client, f"/establishments/{establishment.id}/sign", SIGNATURE)

    assert response.status_code == 303
    subject = mailbox.last_to("rosa@hostal.pe")["Subject"]
    assert "Hostal" in subject and "Ñusta" in subject
    assert subject.splitlines() == [subject]
    assert db.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))).all() == []


def test_a_message_queued_with_a_broken_subject_holds_up_nothing(app, db, mailbox):
    """Messages written before the subject was cleaned are sent, and so is everything after."""
    db.add(
        OutboxMessage(
            to_address="a@hostal.pe", subject="Hostal\u2028Ñusta\r\nBcc: x@y.pe", body="1"
        )
    )
    db.add(OutboxMessage(to_address="b@hostal.pe", subject="Otro", body="2"))
    db.commit()

    assert deliver_pending(app.state.engine, app.state.settings) == 2

    assert mailbox.last_to("a@hostal.pe")["Subject"] == "Hostal Ñusta Bcc: x@y.pe"
    assert mailbox.last_to("a@hostal.pe")["Bcc"] is None
    assert mailbox.last_to("b@hostal.pe")["Subject"] == "Otro"


@pytest.mark.parametrize("odd", ODD, ids=[f"U+{ord(c):04X}" for c in ODD])
def test_one_line_fields_refuse_them_and_keep_what_was_typed(client, db, odd):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")

    response = post_form(
        client, "/establishments/new", establishment_form(trade_name=f"Hostal{odd}Ñusta")
    )

    assert response.status_code == 400
    assert "special characters" in (field_error(response, "trade_name") or "")
    assert field_value(response, "legal_name") == "Inversiones Ñusta S.A.C."
    assert db.scalars(select(Establishment)).all() == []
