"""The portal's digital signature on certificates (PAdES, with pyHanko), and checking it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from app.config import Settings

T = TypeVar("T")


def _off_the_event_loop(work: Callable[[], T]) -> T:
    """Run pyHanko's synchronous calls, which start their own event loop, from any thread: in a
    helper thread when this one already runs a loop (an async caller, a test harness)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def create_dev_keys(directory: Path, common_name: str) -> tuple[Path, Path]:
    """A self-signed key and certificate for development (never for production: nobody trusts it)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portal del Código de Conducta ESNNA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / "signing-key.pem", directory / "signing-cert.pem"
    key_file.touch(mode=0o600, exist_ok=True)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


@cache
def _signer(key_file: Path, cert_file: Path, password: str) -> signers.SimpleSigner:
    signer = signers.SimpleSigner.load(
        str(key_file), str(cert_file), key_passphrase=password.encode() or None
    )
    if signer is None:
        raise RuntimeError(f"cannot load the signing key {key_file} and certificate {cert_file}")
    return signer


def sign_pdf(pdf: bytes, settings: Settings, *, reason: str, location: str) -> bytes | None:
    """The PDF with the portal's PAdES signature, or None when no signing key is configured."""
    files = settings.signing_files
    if files is None:
        return None
    signer = _signer(files[0], files[1], settings.signing_key_password)
    metadata = signers.PdfSignatureMetadata(
        field_name="Firma",
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    out = _off_the_event_loop(lambda: signers.PdfSigner(metadata, signer=signer).sign_pdf(writer))
    return out.getvalue()  # type: ignore[union-attr]


@dataclass(frozen=True)
class SignatureCheck:
    signed: bool
    #: The signed bytes are unchanged and the signature covers the whole file.
    intact: bool = False
    #: The signing certificate is the portal's (or chains to it).
    trusted: bool = False
    signer: str = ""
    signed_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.signed and self.intact and self.trusted


def check_signature(pdf: bytes, trusted_cert_file: Path | None) -> SignatureCheck:
    """Whether the PDF carries an intact signature covering the whole file, by the trusted certificate."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = reader.embedded_signatures
    except Exception:  # a file that is not a readable PDF carries no signature we can check
        return SignatureCheck(signed=False)
    if not embedded:
        return SignatureCheck(signed=False)
    signature = embedded[-1]
    roots = [load_cert_from_pemder(str(trusted_cert_file))] if trusted_cert_file else []
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    try:
        status = _off_the_event_loop(lambda: validate_pdf_signature(signature, context))
    except Exception:
        return SignatureCheck(signed=True)
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE and len(embedded) == 1
    return SignatureCheck(
        signed=True,
        intact=bool(status.intact and status.valid and whole),
        trusted=bool(status.trusted),
        signer=status.signing_cert.subject.human_friendly,
        signed_at=status.signer_reported_dt,
    )
