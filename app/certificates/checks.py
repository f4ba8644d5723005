"""Checking a certificate PDF someone holds: is it the portal's, unchanged, and valid today?"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field

from pyhanko.pdf_utils.reader import PdfFileReader
from sqlmodel import Session

from app.certificates import service
from app.certificates.signing import check_signature
from app.config import Settings

_CODE_IN_SUBJECT = re.compile(rf"\b([0-9A-Z]{{{service.CODE_LENGTH}}})\b")


def code_in(pdf: bytes) -> str | None:
    """The verification code the portal writes in the PDF's document information (Subject)."""
    try:
        info = PdfFileReader(io.BytesIO(pdf), strict=False).trailer["/Info"]
        subject = str(info.get("/Subject", ""))
    except Exception:  # not a PDF, or one without document information
        return None
    found = _CODE_IN_SUBJECT.search(subject)
    return found.group(1) if found else None


@dataclass
class FileCheck:
    ok: bool = False
    lines: list[str] = field(default_factory=list)


def check_file(*, db_session: Session, settings: Settings, pdf: bytes) -> FileCheck:
    """Signature (when the portal signs), code known to the database, same bytes as issued, status."""
    report = FileCheck()
    files = settings.signing_files
    signature = check_signature(pdf, files[1] if files else None)
    if files is None:
        signature_ok = True
        report.lines.append("Signature: not checked (no signing key is configured here).")
    elif signature.ok:
        signature_ok = True
        report.lines.append(
            f"Signature: valid, intact, by {signature.signer} at {signature.signed_at:%Y-%m-%d %H:%M} UTC."
        )
    else:
        signature_ok = False
        if not signature.signed:
            report.lines.append("Signature: MISSING or unreadable (the file is not as issued).")
        elif not signature.intact:
            report.lines.append("Signature: BROKEN (the file was changed after it was signed).")
        else:
            report.lines.append(f"Signature: by an UNTRUSTED certificate ({signature.signer}).")

    code = code_in(pdf)
    found = service.verify(db_session=db_session, code=code) if code else None
    if found is None:
        report.lines.append(
            f"Code: {'UNKNOWN ' + code if code else 'NOT FOUND in the file'} (no such certificate)."
        )
        return report
    certificate = found.certificate
    report.lines.append(
        f"Code: {code}: certificate {certificate.number}, {found.establishment.trade_name} "
        f"(RUC {found.establishment.ruc}), period {found.year}."
    )
    digest = hashlib.sha256(pdf).hexdigest()
    same = digest in (certificate.pdf_es_sha256, certificate.pdf_en_sha256)
    report.lines.append(
        "File: identical to the copy the portal keeps."
        if same
        else "File: differs from the copy the portal keeps (an earlier issue, or changed)."
    )
    status = found.live.status.value.upper()
    if found.live.revoked_on:
        status += f" since {found.live.revoked_on:%Y-%m-%d}"
    report.lines.append(f"Status today: {status} (valid until {certificate.valid_until:%Y-%m-%d}).")
    report.ok = signature_ok and (same or signature.ok)
    return report
