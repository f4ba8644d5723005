"""Settings, read from the environment with the PORTAL_ prefix."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "development-secret-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = DEV_SECRET
    database_url: str = f"sqlite:///{ROOT / 'var' / 'portal.db'}"
    base_url: str = "http://127.0.0.1:8000"
    var_dir: Path = ROOT / "var"

    mail_backend: Literal["file", "smtp"] = "file"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_sender: str = "Código de Conducta ESNNA <no-reply@codigodeconducta.gob.pe>"

    # The portal's signing key and certificate (PEM) for certificates of compliance (PAdES). Unset in
    # development, the key made by `portal keys create-dev` (var/keys/) is used when it exists.
    signing_key_file: Path | None = None
    signing_cert_file: Path | None = None
    signing_key_password: str = ""

    evidence_max_file_bytes: int = 10_000_000
    evidence_max_report_bytes: int = 50_000_000

    # Requests a minute with one API token (counted in the database, across worker processes).
    api_rate_limit_per_minute: int = 120

    # Rendered public register pages kept per worker process (bytes; 0 turns the cache off).
    register_cache_bytes: int = 64_000_000
    # The file in which the worker processes share those pages (as many bytes again). Set by
    # `portal serve` for its workers, to a file it makes for that run and deletes after it.
    register_shared_pages: Path | None = None

    # Argon2 cost of password hashes: "standard" (RFC 9106, 64 MiB) everywhere but in the test
    # suite, which sets "minimal" to save about 0.3 s per account made and sign-in checked. A
    # hash made with other parameters is made again when its owner next signs in.
    password_hash_cost: Literal["standard", "minimal"] = "standard"

    session_idle_minutes: int = 120
    session_absolute_hours: int = 12
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    login_window_minutes: int = 15
    confirm_token_hours: int = 48
    reset_token_minutes: int = 60

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key == DEV_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "PORTAL_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if self.environment == "production" and self.password_hash_cost != "standard":
            raise ValueError("PORTAL_PASSWORD_HASH_COST must be 'standard' in production")
        return self

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def evidence_dir(self) -> Path:
        return self.var_dir / "evidence"

    @property
    def certificates_dir(self) -> Path:
        return self.var_dir / "certificates"

    @property
    def dev_keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def signing_files(self) -> tuple[Path, Path] | None:
        """The signing key and certificate files in use, or None when certificates go unsigned."""
        if self.signing_key_file and self.signing_cert_file:
            return self.signing_key_file, self.signing_cert_file
        key, cert = self.dev_keys_dir / "signing-key.pem", self.dev_keys_dir / "signing-cert.pem"
        if self.environment == "development" and key.exists() and cert.exists():
            return key, cert
        return None

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


@cache
def get_settings() -> Settings:
    return Settings()
