from tests.conftest import post_form, error_summary, page, make_user, PASSWORD


def test_probe_nul(client, db):
    r = post_form(client, "/account/login", {"email": "a\x00b@hostal.pe", "password": "whatever-123"})
    print("NUL login", r.status_code, error_summary(r))
    r = post_form(client, "/account/password/forgot", {"email": "a\x00b@hostal.pe"})
    print("NUL forgot", r.status_code, error_summary(r))
    r = post_form(client, "/account/register", {"email": "ro\x00sa@hostal.pe", "password": "Abc-Def-2026x", "password_confirm": "Abc-Def-2026x", "privacy": "yes"})
    print("NUL register", r.status_code, error_summary(r))


def test_probe_idn(client, db, mailbox):
    r = post_form(client, "/account/register", {"email": "rosa@ñusta.pe", "password": "Abc-Def-2026x", "password_confirm": "Abc-Def-2026x", "privacy": "yes"})
    print("IDN register", r.status_code, r.headers.get("location"), error_summary(r))
    print([ (m["To"], m["Subject"]) for m in mailbox.messages])
    from sqlalchemy import text
    print(db.execute(text("select email from user_account")).all())
    print(db.execute(text("select to_address, sent_at, attempts, last_error from outbox_message")).all())
