"""A test identity provider for production mode: an RSA key whose JWKS is served on loopback (what `RLS_JWKS_URL`
points at), and tokens signed with it — no dev key anywhere."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from services.common.auth import token_claims

ISSUER = "https://idp.rls.test/realms/rls"
KID = "rls-test-1"


class IdentityProvider:
    """Signs tokens (RS256) with claims `sub`, `org`, `roles` for audience `rls`; `jwks_url` serves its public key."""

    def __init__(self, jwks_url: str, key: rsa.RSAPrivateKey) -> None:
        self.jwks_url = jwks_url
        self.issuer = ISSUER
        self._key = key

    def mint(self, org: str, roles: list[str], sub: str, ttl: timedelta = timedelta(hours=4)) -> str:
        claims = token_claims(org, roles, sub, ISSUER, "rls", ttl)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": KID})


def jwks_document(key: rsa.RSAPrivateKey) -> bytes:
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return json.dumps({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()


@contextmanager
def loopback_identity_provider() -> Iterator[IdentityProvider]:
    """The provider, its JWKS served on 127.0.0.1 until the block ends."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    document = jwks_document(key)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/jwks.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if self.path == "/jwks.json":
                self.wfile.write(document)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield IdentityProvider(f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key)
    finally:
        server.shutdown()
        server.server_close()
