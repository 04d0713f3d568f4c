from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import ConfigError
from hub.oauth import Tokens
from hub.secrets import TokenCipher

KEY = Fernet.generate_key().decode()
TOKENS = Tokens("access-abc123", "refresh-xyz789", datetime(2026, 3, 2, 12, 30, tzinfo=UTC))
MAKE_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


def test_tokens_survive_encryption_and_are_unreadable_at_rest() -> None:
    cipher = TokenCipher.from_env({"HUB_SECRET_KEY": KEY})

    stored = cipher.encrypt(TOKENS)

    assert "access-abc123" not in stored
    assert "refresh-xyz789" not in stored
    assert cipher.decrypt(stored) == TOKENS


@given(
    access=st.text(),
    refresh=st.text(),
    expires_at=st.datetimes(timezones=st.just(UTC)),
)
def test_any_tokens_round_trip(access: str, refresh: str, expires_at: datetime) -> None:
    cipher = TokenCipher(KEY)
    tokens = Tokens(access, refresh, expires_at)

    assert cipher.decrypt(cipher.encrypt(tokens)) == tokens


@pytest.mark.parametrize("env", [{}, {"HUB_SECRET_KEY": ""}, {"HUB_SECRET_KEY": "  "}])
def test_missing_key_names_the_variable_and_how_to_make_one(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as error:
        TokenCipher.from_env(env)

    assert "HUB_SECRET_KEY is not set" in str(error.value)
    assert MAKE_KEY in str(error.value)


@pytest.mark.parametrize("key", ["hunter2", "é" * 44, KEY[:-4]])
def test_malformed_key_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(ConfigError) as error:
        TokenCipher.from_env({"HUB_SECRET_KEY": key})

    message = str(error.value)
    assert "HUB_SECRET_KEY is not a valid Fernet key" in message
    assert MAKE_KEY in message
    assert key not in message


def test_tokens_from_another_key_say_the_key_changed() -> None:
    stored = TokenCipher(Fernet.generate_key()).encrypt(TOKENS)

    with pytest.raises(ConfigError, match="HUB_SECRET_KEY: the key changed"):
        TokenCipher(KEY).decrypt(stored)


@pytest.mark.parametrize("stored", ["", "not a token", "é"])
def test_damaged_stored_text_is_a_config_error(stored: str) -> None:
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        TokenCipher(KEY).decrypt(stored)
