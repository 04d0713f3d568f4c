"""Where OAuth tokens live between runs: encrypted in the hub's own store, one row per connection.

`StoredTokens` is the `hub.oauth.TokenStore` the hub uses: it keeps each connection's tokens in
`connection_state.tokens`, encrypted with the `HUB_SECRET_KEY` Fernet key (`hub.secrets.TokenCipher`), so the
database alone never reveals a credential. `InitialRefreshToken` lets a connection that was never authorised
through the hub start from the refresh token its configuration names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from hub.oauth import Tokens, TokenStore
from hub.secrets import TokenCipher
from hub.store import Store

_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


class StoredTokens:
    """A `TokenStore` in the hub's SQLite store, each connection's tokens encrypted in `connection_state.tokens`."""

    def __init__(self, store: Store, cipher: TokenCipher) -> None:
        self._store = store
        self._cipher = cipher

    @classmethod
    def from_env(cls, store: Store, env: Mapping[str, str]) -> StoredTokens:
        """Tokens kept under the key in `HUB_SECRET_KEY`; ConfigError if it is missing or malformed."""
        return cls(store, TokenCipher.from_env(env))

    async def load(self, connection: str) -> Tokens | None:
        """The connection's tokens, or None if none were ever saved."""
        text = (await self._store.connection_state(connection))["tokens"]
        return self._cipher.decrypt(text) if text else None

    async def save(self, connection: str, tokens: Tokens) -> None:
        """Replace the connection's tokens (the rest of its state stays as it is)."""
        await self._store.set_connection_state(connection, tokens=self._cipher.encrypt(tokens))


class InitialRefreshToken:
    """A `TokenStore` that starts a connection with no saved tokens from a configured refresh token.

    The access token it makes up is already expired, so the first call refreshes it, and the rotated tokens
    are saved to the wrapped store: from then on the configured refresh token is never used again.
    """

    def __init__(self, inner: TokenStore, refresh_token: str) -> None:
        self._inner = inner
        self._refresh_token = refresh_token

    async def load(self, connection: str) -> Tokens | None:
        """The saved tokens, or the configured refresh token with an expired access token."""
        saved = await self._inner.load(connection)
        return saved or Tokens("", self._refresh_token, _LONG_AGO)

    async def save(self, connection: str, tokens: Tokens) -> None:
        """Save to the wrapped store."""
        await self._inner.save(connection, tokens)
