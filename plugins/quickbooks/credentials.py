"""How a QuickBooks connection authenticates: a fixed access token, or Intuit's OAuth 2.0 refresh flow.

With an ``access_token`` secret (the simulator, a trial with a token from Intuit's OAuth playground) every
call carries it as it is. Otherwise the connection needs ``client_id`` and ``client_secret``, and tokens
in the hub's token store; a ``refresh_token`` secret starts the connection, and a new one starts it again.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from hub.config import Connection
from hub.credentials import InitialRefreshToken
from hub.errors import ConfigError, FatalSyncError
from hub.oauth import Clock, OAuth2Auth, OAuth2Session, TokenStore

TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
"""Intuit's OAuth 2.0 token endpoint (client credentials as HTTP Basic, refresh tokens rotate)."""


class BearerToken(httpx.Auth):
    """Every request carries one fixed access token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the token and send."""
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def check_secrets(connection: Connection) -> None:
    """Refuse a connection that has neither an access token nor the OAuth client credentials."""
    if "access_token" in connection.secrets:
        return
    for name in ("client_id", "client_secret"):
        if name not in connection.secrets:
            raise ConfigError(
                f"connections.{connection.name}.secrets.{name}: missing; a QuickBooks connection needs "
                "client_id and client_secret (and a refresh_token to start from), or an access_token"
            )


def connection_auth(
    connection: Connection, http: httpx.AsyncClient, store: TokenStore | None, clock: Clock
) -> httpx.Auth:
    """The authentication the connection's secrets call for; OAuth needs the hub's token store."""
    if "access_token" in connection.secrets:
        return BearerToken(connection.secrets["access_token"])
    if store is None:
        raise FatalSyncError(
            f"{connection.name}: QuickBooks OAuth keeps its tokens in the hub's token store, and none was given "
            "(the hub sets system.token_store to hub.credentials.StoredTokens, which needs HUB_SECRET_KEY)"
        )
    if "refresh_token" in connection.secrets:
        store = InitialRefreshToken(store, connection.secrets["refresh_token"])
    session = OAuth2Session(
        connection.name,
        TOKEN_URL,
        connection.secrets["client_id"],
        connection.secrets["client_secret"],
        store,
        http,
        clock,
    )
    return OAuth2Auth(session)
