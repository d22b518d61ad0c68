"""The identity provider, over HTTP: discovery from the issuer, the authorization URL
(authorization-code flow with PKCE S256, ``state`` and ``nonce``, through authlib's OAuth 2
client), the code exchanged for an ID token, and the token's signature checked against the
provider's published keys (JWKS, through joserfc).

Discovery and the keys are read at each sign-in: sign-ins are rare, and a provider that
rotates its keys is then never refused for a stale copy. A provider that does not answer,
or answers nonsense, raises :class:`ProviderUnavailable` (the page says to try later; it
counts toward no limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from safehold.config import Settings
from safehold.staff import oidc_rules

TIMEOUT = 10.0  # seconds per request to the provider
CALLBACK = "/admin/sign-in/oidc/callback"


class ProviderUnavailable(Exception):
    """The provider did not answer, or not as OpenID Connect says (the detail is for logs)."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Config:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    role_claim: str | None


def config(settings: Settings) -> Config | None:
    """The configured provider, or None when single sign-on is off."""
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    return Config(
        settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret,
        settings.base_url + CALLBACK, settings.oidc_role_claim,
    )  # fmt: skip


def _json(http: OAuth2Client, url: str) -> dict[str, Any]:
    try:  # withhold_token: these documents are public, the client holds no token yet
        answer = http.request("GET", url, follow_redirects=False, withhold_token=True)
        answer.raise_for_status()
        data = answer.json()
    except (httpx2.HTTPError, ValueError) as exc:
        raise ProviderUnavailable(f"{type(exc).__name__} from {url}") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"not a JSON object from {url}")
    return data


def discover(http: OAuth2Client, cfg: Config) -> Provider:
    """The provider's endpoints; its document must name the configured issuer (OpenID
    Connect Discovery 4.3), or a look-alike host could speak for it."""
    doc = _json(http, cfg.issuer + "/.well-known/openid-configuration")
    fields = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    values = [doc.get(name) for name in fields]
    if not all(isinstance(value, str) and value for value in values):
        raise ProviderUnavailable("the discovery document lacks an endpoint")
    if doc["issuer"] != cfg.issuer:
        raise ProviderUnavailable("the discovery document names another issuer")
    return Provider(*(str(value) for value in values))


def client(cfg: Config) -> OAuth2Client:
    """One HTTP client for a step's requests to the provider (discovery, token, keys): a
    connection and a TLS set-up shared by them. Use it as a context manager."""
    return OAuth2Client(
        client_id=cfg.client_id, client_secret=cfg.client_secret, scope=oidc_rules.SCOPE,
        redirect_uri=cfg.redirect_uri, code_challenge_method="S256", timeout=TIMEOUT,
    )  # fmt: skip


def authorization_url(
    http: OAuth2Client, provider: Provider, state: str, nonce: str, verifier: str
) -> str:
    url, _ = http.create_authorization_url(
        provider.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce
    )
    return str(url)


def exchange(http: OAuth2Client, provider: Provider, code: str, verifier: str) -> str:
    """The ID token the provider gives for ``code`` (with the PKCE verifier); a code it
    refuses is :class:`~safehold.staff.oidc_rules.ClaimRefused` (``provider_error``)."""
    try:
        token = http.fetch_token(
            provider.token_endpoint, grant_type="authorization_code", code=code,
            code_verifier=verifier,
        )  # fmt: skip
    except OAuthError:  # the provider refused the code: used, expired, or not ours
        raise oidc_rules.ClaimRefused("provider_error") from None
    except (httpx2.HTTPError, ValueError) as exc:
        raise ProviderUnavailable(f"{type(exc).__name__} from the token endpoint") from None
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str):
        raise ProviderUnavailable("the token endpoint sent no ID token")
    return id_token


def signed_claims(id_token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The claims of an ID token signed by one of ``jwks``'s keys (asymmetric algorithms
    only); anything else is refused as ``signature``."""
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        token = jwt.decode(id_token, keys, algorithms=oidc_rules.SIGNING_ALGORITHMS)
    except (JoseError, ValueError, TypeError, KeyError):
        raise oidc_rules.ClaimRefused("signature") from None
    return dict(token.claims)


def keys_of(http: OAuth2Client, provider: Provider) -> dict[str, Any]:
    return _json(http, provider.jwks_uri)
