"""OAuth tokens kept in the hub's store: encrypted at rest, per connection, surviving a restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.credentials import InitialRefreshToken, StoredTokens, fingerprint
from hub.errors import ConfigError
from hub.oauth import MemoryTokenStore, OAuth2Session, Tokens
from hub.secrets import TokenCipher
from hub.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
KEY = Fernet.generate_key().decode()
TOKENS = Tokens("access-secret-1", "refresh-secret-1", T0 + timedelta(hours=1))
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"


@pytest.fixture
async def store(tmp_path: Path):
    opened = await Store.open(tmp_path / "hub.db")
    yield opened
    await opened.close()


async def test_saved_tokens_come_back_after_the_store_is_reopened(tmp_path: Path):
    first = await Store.open(tmp_path / "hub.db")
    await StoredTokens(first, TokenCipher(KEY)).save("qbo", TOKENS)
    await first.close()

    again = await Store.open(tmp_path / "hub.db")
    try:
        assert await StoredTokens(again, TokenCipher(KEY)).load("qbo") == TOKENS
    finally:
        await again.close()


async def test_tokens_are_encrypted_in_the_store(store: Store):
    await StoredTokens(store, TokenCipher(KEY)).save("qbo", TOKENS)

    (raw,) = await store.fetchone("SELECT tokens FROM connection_state WHERE connection = 'qbo'")

    assert "access-secret-1" not in raw and "refresh-secret-1" not in raw
    assert raw.startswith("gAAAA")


async def test_a_connection_never_authorised_has_no_tokens(store: Store):
    assert await StoredTokens(store, TokenCipher(KEY)).load("qbo") is None


async def test_each_connection_keeps_its_own_tokens_and_a_save_replaces_them(store: Store):
    tokens = StoredTokens(store, TokenCipher(KEY))
    rotated = Tokens("access-secret-2", "refresh-secret-2", T0 + timedelta(hours=2))
    other = Tokens("xero-access", "xero-refresh", T0)

    await tokens.save("qbo", TOKENS)
    await tokens.save("xpm", other)
    await tokens.save("qbo", rotated)

    assert (await tokens.load("qbo"), await tokens.load("xpm")) == (rotated, other)


async def test_saving_tokens_leaves_the_rest_of_the_connection_state_alone(store: Store):
    await store.set_connection_state("qbo", paused_until="2026-11-02T10:00:00+00:00", pause_reason="HTTP 429")

    await StoredTokens(store, TokenCipher(KEY)).save("qbo", TOKENS)

    state = await store.connection_state("qbo")
    assert (state["paused_until"], state["pause_reason"]) == ("2026-11-02T10:00:00+00:00", "HTTP 429")


async def test_tokens_saved_under_another_key_are_refused_naming_the_key(store: Store):
    await StoredTokens(store, TokenCipher(KEY)).save("qbo", TOKENS)

    with pytest.raises(ConfigError, match="HUB_SECRET_KEY"):
        await StoredTokens(store, TokenCipher(Fernet.generate_key())).load("qbo")


async def test_the_key_comes_from_hub_secret_key(store: Store):
    await StoredTokens.from_env(store, {"HUB_SECRET_KEY": KEY}).save("qbo", TOKENS)

    assert await StoredTokens(store, TokenCipher(KEY)).load("qbo") == TOKENS
    with pytest.raises(ConfigError, match="HUB_SECRET_KEY is not set"):
        StoredTokens.from_env(store, {})


@given(
    access=st.text(min_size=1),
    refresh=st.text(min_size=1),
    expires=st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
)
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_any_tokens_survive_the_round_trip(store: Store, access: str, refresh: str, expires: datetime):
    tokens = StoredTokens(store, TokenCipher(KEY))

    await tokens.save("qbo", Tokens(access, refresh, expires))

    assert await tokens.load("qbo") == Tokens(access, refresh, expires)


async def test_an_initial_refresh_token_starts_a_connection_with_no_saved_tokens():
    saved = MemoryTokenStore()
    seeded = InitialRefreshToken(saved, "rt-configured")

    first = await seeded.load("qbo")
    rotated = replace(TOKENS, started_from=first.started_from)
    await seeded.save("qbo", rotated)

    assert first is not None and first.refresh_token == "rt-configured" and first.expires_at < T0
    assert await seeded.load("qbo") == rotated == saved.tokens["qbo"]


async def test_a_new_configured_refresh_token_is_a_new_authorisation_and_an_older_one_is_not():
    saved = MemoryTokenStore()
    first = await InitialRefreshToken(saved, "rt-first").load("qbo")
    await saved.save("qbo", replace(TOKENS, started_from=first.started_from))

    again = await InitialRefreshToken(saved, "rt-again").load("qbo")
    await saved.save("qbo", replace(TOKENS, refresh_token="refresh-secret-2", started_from=again.started_from))

    assert again.refresh_token == "rt-again" and again.expires_at < T0
    # A process started before the person re-authorised still has the first token configured: it uses the saved ones.
    assert (await InitialRefreshToken(saved, "rt-first").load("qbo")).refresh_token == "refresh-secret-2"
    assert (await InitialRefreshToken(saved, "rt-again").load("qbo")).refresh_token == "refresh-secret-2"


async def test_the_configured_refresh_token_is_kept_only_as_a_fingerprint_inside_the_encryption(store: Store):
    kept = StoredTokens(store, TokenCipher(KEY))
    started = await InitialRefreshToken(kept, "rt-configured").load("qbo")
    await kept.save("qbo", replace(TOKENS, started_from=started.started_from))

    (raw,) = await store.fetchone("SELECT tokens FROM connection_state WHERE connection = 'qbo'")

    assert (await kept.load("qbo")).started_from == {fingerprint("rt-configured")}
    assert "rt-configured" not in raw and fingerprint("rt-configured") not in raw


async def test_tokens_saved_before_fingerprints_were_kept_are_used_unless_they_were_refused(store: Store):
    kept = StoredTokens(store, TokenCipher(KEY))
    await kept.save("qbo", TOKENS)  # no started_from, as an older hub saved them

    assert (await InitialRefreshToken(kept, "rt-configured").load("qbo")).refresh_token == "refresh-secret-1"
    await store.set_connection_state("qbo", reauth_required="re-authorisation required: invalid_grant")
    assert (await InitialRefreshToken(kept, "rt-configured").load("qbo")).refresh_token == "rt-configured"


async def test_saving_new_tokens_ends_re_authorisation_required(store: Store):
    await store.set_connection_state("qbo", reauth_required="re-authorisation required: invalid_grant")

    await StoredTokens(store, TokenCipher(KEY)).save("qbo", TOKENS)

    assert (await store.connection_state("qbo"))["reauth_required"] is None


@respx.mock
async def test_a_rotated_refresh_token_is_the_one_used_after_a_restart(store: Store):
    route = respx.post(INTUIT_TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 3600}),
            httpx.Response(200, json={"access_token": "at-2", "refresh_token": "rt-2", "expires_in": 3600}),
        ]
    )
    kept = StoredTokens(store, TokenCipher(KEY))

    async with httpx.AsyncClient() as http:
        for hours_later in (0, 2):  # the second start finds the first access token expired
            now = T0 + timedelta(hours=hours_later)
            session = OAuth2Session(
                "qbo",
                INTUIT_TOKEN_URL,
                "client-id",
                "client-secret",
                InitialRefreshToken(kept, "rt-configured"),
                http,
                lambda now=now: now,
            )
            await session.access_token()

    sent = [call.request.content.decode() for call in route.calls]
    assert "refresh_token=rt-configured" in sent[0] and "refresh_token=rt-1" in sent[1]
    assert (await kept.load("qbo")).refresh_token == "rt-2"
