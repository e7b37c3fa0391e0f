"""Console settings (`CONSOLE_*`): where it listens, which services it calls, how people sign in."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.auth import load_dev_key
from services.common.settings import PlatformSettings, SettingsError
from services.runtime.registry import SERVICES, settings_class

API_SERVICES = ("referral", "agreements", "consent", "audit")
"""The services whose REST APIs the console calls (with the signed-in user's token)."""


class ConsoleSettings(PlatformSettings):
    """The console holds no data: the addresses of the services, the sign-in configuration, and where the ids of
    signed-out sessions are kept until they expire."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", populate_by_name=True)

    service_name: str = "console"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(None, description="How browsers reach the console (default http://host:port)")
    referral_url: str | None = None
    agreements_url: str | None = None
    consent_url: str | None = None
    audit_url: str | None = None
    api_timeout_s: float = 10.0
    default_language: Literal["fr", "en"] = "fr"
    timezone: str = "America/Montreal"
    session_key: SecretStr | None = Field(
        None, description="base64 of 32 bytes encrypting the session cookie; generated under var/ in dev mode"
    )
    session_hours: float = Field(8.0, gt=0, le=24)
    session_idle_minutes: float = Field(30.0, gt=0, le=24 * 60, description="A session unused this long ends")
    session_store: str | None = Field(
        None,
        description="Where signed-out sessions are kept until they expire, shared by every replica: sqlite:///… "
        "(default <var>/console-sessions.db) or postgresql://…[?schema=…]; required in production",
    )
    oidc_issuer: str | None = Field(None, description="The organisation's OpenID provider (issuer URL)")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = Field(None, description="Absent: a public client (PKCE only)")
    oidc_scopes: str = "openid profile"
    oidc_resource: str | None = Field(
        None, description="RFC 8707 resource asked for, when the provider needs one to issue the API's audience"
    )
    worklist_size: int = Field(50, ge=1, le=500)

    @model_validator(mode="after")
    def _production_needs_oidc_and_addresses(self) -> ConsoleSettings:
        if self.mode != "production":
            return self
        missing = [
            f"CONSOLE_{name.upper()}"
            for name in (
                "oidc_issuer",
                "oidc_client_id",
                "session_key",
                "session_store",
                *(f"{s}_url" for s in API_SERVICES),
            )
            if getattr(self, name) is None
        ]
        if missing:
            raise SettingsError(
                f"{', '.join(missing)} required in production mode (no dev sign-in there; sign-out must hold on "
                "every replica)"
            )
        return self

    @property
    def dev_sign_in(self) -> bool:
        """The dev sign-in (any demo organisation, any roles, signed with the dev key) exists only in dev mode."""
        return self.mode == "dev"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def api_url(self, service: str) -> str:
        """A service's URL: configured, or (dev) where that service's own settings say it listens."""
        configured: str | None = getattr(self, f"{service}_url")
        if configured:
            return configured.rstrip("/")
        if service not in SERVICES:
            raise KeyError(service)
        theirs = settings_class(service)()
        return f"http://{theirs.host}:{theirs.port}"

    @property
    def session_store_url(self) -> str:
        """The revoked sessions' store: configured, or (dev) a SQLite file under `var/`."""
        return self.session_store or f"sqlite:///{self.var_dir / 'console-sessions.db'}"

    def session_key_bytes(self) -> bytes:
        if self.session_key is not None:
            key = self.session_key.get_secret_value()
        else:
            key = load_dev_key(Path(self.var_dir) / "console-session-key").decode()
        raw = base64.urlsafe_b64decode(key)
        if len(raw) != 32:
            raise SettingsError("CONSOLE_SESSION_KEY must be the base64 of 32 bytes")
        return raw
