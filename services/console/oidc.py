"""OpenID Connect sign-in (authorisation code flow with PKCE, S256) against the organisation's identity provider.

The console is a confidential client when given a secret, a public one otherwise (PKCE either way). The ID token is
checked (signature from the provider's JWKS, issuer, audience, expiry, nonce); the access token is what the console
calls the APIs with, so it reads `org` and `roles` from it exactly as the APIs do (`TokenVerifier`): the console can
never believe something about the user that the services would not."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from services.common.auth import AuthenticationError, TokenVerifier
from services.console.session import Session
from services.console.settings import ConsoleSettings

SIGNATURE_ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]


class OidcError(Exception):
    """Sign-in failed; `key` names the message in the catalogue, `detail` is safe to show (codes, no token)."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(f"{key}: {detail}")
        self.key = key
        self.detail = detail


@dataclass(frozen=True)
class Provider:
    """What discovery (`/.well-known/openid-configuration`) says about the provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Pending:
    """A sign-in under way, kept in a sealed cookie between the redirect and the callback."""

    state: str
    nonce: str
    verifier: str
    next: str


def challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


class OidcClient:
    """The console as a relying party of one provider."""

    def __init__(self, settings: ConsoleSettings, http: httpx.AsyncClient) -> None:
        if not settings.oidc_issuer or not settings.oidc_client_id:
            raise ValueError("CONSOLE_OIDC_ISSUER and CONSOLE_OIDC_CLIENT_ID are needed")
        self._settings = settings
        self._issuer = settings.oidc_issuer.rstrip("/")
        self._client_id = settings.oidc_client_id
        self._http = http
        self._provider: Provider | None = None
        self._keys: jwt.PyJWKClient | None = None

    @property
    def redirect_uri(self) -> str:
        return f"{self._settings.base_url}/connexion/retour"

    async def provider(self) -> Provider:
        if self._provider is None:
            document = await self._json("GET", f"{self._issuer}/.well-known/openid-configuration")
            if str(document.get("issuer", "")).rstrip("/") != self._issuer:
                raise OidcError("signin.oidc.token", "issuer of the discovery document")
            self._provider = Provider(
                issuer=str(document["issuer"]),
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
            )
            self._keys = jwt.PyJWKClient(self._provider.jwks_uri, cache_keys=True)
        return self._provider

    async def begin(self, next_path: str) -> tuple[str, Pending]:
        """The provider's authorisation URL to send the browser to, and what the callback must find again."""
        provider = await self.provider()
        pending = Pending(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            next=next_path,
        )
        params = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self._settings.oidc_scopes,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        if self._settings.oidc_resource:
            params["resource"] = self._settings.oidc_resource
        return f"{provider.authorization_endpoint}?{urlencode(params)}", pending

    async def finish(self, query: dict[str, str], pending: Pending | None) -> Session:
        """Checks the callback, redeems the code with the PKCE verifier, validates the tokens."""
        if "error" in query:
            raise OidcError("signin.oidc.denied", query["error"][:64])
        if pending is None or not secrets.compare_digest(query.get("state", ""), pending.state):
            raise OidcError("signin.oidc.state")
        provider = await self.provider()
        if "iss" in query and query["iss"].rstrip("/") != provider.issuer.rstrip("/"):  # RFC 9207
            raise OidcError("signin.oidc.state")
        tokens = await self._redeem(provider, query.get("code", ""), pending.verifier)
        await asyncio.to_thread(self._check_id_token, provider, str(tokens.get("id_token", "")), pending.nonce)
        access = str(tokens.get("access_token", ""))
        try:
            verifier = TokenVerifier(
                self._settings.jwt_audience,
                self._settings.jwt_issuer or provider.issuer,
                jwks_url=self._settings.jwks_url or provider.jwks_uri,
            )
            principal = await asyncio.to_thread(verifier.verify, access)
        except AuthenticationError as error:
            raise OidcError("signin.oidc.claims", str(error)) from None
        expires_in = float(tokens.get("expires_in") or 3600)
        return Session.begin(
            sub=principal.sub,
            org=principal.org,
            roles=tuple(sorted(principal.roles)),
            token=access,
            expires_at=time.time() + min(expires_in, self._settings.session_hours * 3600),
        )

    async def _redeem(self, provider: Provider, code: str, verifier: str) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
            "client_id": self._client_id,
        }
        secret = self._settings.oidc_client_secret
        auth = (self._client_id, secret.get_secret_value()) if secret else None
        return await self._json("POST", provider.token_endpoint, data=form, auth=auth)

    def _check_id_token(self, provider: Provider, id_token: str, nonce: str) -> None:
        assert self._keys is not None
        try:
            key = self._keys.get_signing_key_from_jwt(id_token).key
            claims = jwt.decode(
                id_token,
                key,
                algorithms=SIGNATURE_ALGORITHMS,
                audience=self._client_id,
                issuer=provider.issuer,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as error:
            raise OidcError("signin.oidc.token", type(error).__name__) from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("signin.oidc.token", "nonce")

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.HTTPError:
            raise OidcError("signin.oidc.unreachable") from None
        if response.status_code >= 400:
            try:
                error = str(response.json().get("error", response.status_code))
            except ValueError:
                error = str(response.status_code)
            raise OidcError("signin.oidc.denied", error[:64])
        document = response.json()
        if not isinstance(document, dict):
            raise OidcError("signin.oidc.token", "not a JSON object")
        return document
