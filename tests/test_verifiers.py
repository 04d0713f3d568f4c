"""Webhook signature schemes: vendor test vectors, valid signatures, and every way a signature can be wrong."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from hub.errors import SignatureInvalid
from hub.verifiers import (
    VERIFIERS,
    IntuitSignature,
    KarbonSignature,
    StandardWebhooks,
    Verifier,
    get_verifier,
    sign_intuit,
    sign_karbon,
    sign_standard,
)

# python-quickbooks' test of validate_webhook_signature (VENDORS.md section 3.7).
INTUIT_BODY = b'{"stuff":"5"}'
INTUIT_TOKEN = "verify_me"
INTUIT_SIGNATURE = "nfPLN16u3vMvv08ghDs+dOkLuirEVDy5wAeG/lmM2OA="
INTUIT_SIGNATURE_AS_HEX = "9df3cb375eaedef32fbf4f20843b3e74e90bba2ac4543cb9c00786fe598cd8e0"

# Karbon documents no vector; this one was computed with `openssl dgst -sha256 -hmac`.
KARBON_BODY = (
    b'{"ResourcePermaKey":"4kTJhpLnyBN","ResourceType":"Contact","ActionType":"Updated",'
    b'"TimeStamp":"2024-08-01T21:54:36Z"}'
)
KARBON_KEY = "hub_test_signing_key-01"
KARBON_SIGNATURE = "d21514795543350db6fd7af35832e923db029a996ab699e27a49fe8b08c19301"

# The Standard Webhooks libraries' shared test data (standard-webhooks/standard-webhooks, libraries/*/tests).
STANDARD_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STANDARD_BODY = b'{"test": 2432232314}'
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_TIMESTAMP = 1614265330
STANDARD_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
STANDARD_WRONG_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
STANDARD_DECOY = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
STANDARD_NOW = datetime.fromtimestamp(STANDARD_TIMESTAMP, UTC)
STANDARD_HEADERS = {
    "webhook-id": STANDARD_MSG_ID,
    "webhook-timestamp": str(STANDARD_TIMESTAMP),
    "webhook-signature": STANDARD_SIGNATURE,
}
OTHER_STANDARD_SECRET = "whsec_" + base64.b64encode(b"another key of at least 24 bytes").decode()


def refusal(
    verifier: Verifier,
    body: bytes,
    headers: Any,
    secrets: Any,
    now: datetime = STANDARD_NOW,
) -> str:
    """Return the reason `verifier` gives for refusing this request (failing the test if it accepts it)."""
    with pytest.raises(SignatureInvalid) as refused:
        verifier.verify(body, headers, secrets, now=now)
    return str(refused.value)


def with_char_changed(text: str, index: int) -> str:
    """Return `text` with the character at `index` swapped for another of the same alphabet."""
    replacement = "B" if text[index] == "A" else "A"
    return text[:index] + replacement + text[index + 1 :]


def test_registry_holds_the_three_built_in_schemes_by_name() -> None:
    assert set(VERIFIERS) == {"intuit-signature", "karbon-signature", "standard-webhooks"}
    assert all(VERIFIERS[name].name == name for name in VERIFIERS)
    assert get_verifier("karbon-signature") is VERIFIERS["karbon-signature"]


def test_unknown_scheme_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="intuit-signature, karbon-signature, standard-webhooks"):
        get_verifier("stripe-signature")


def test_registry_cannot_be_changed_by_a_caller() -> None:
    with pytest.raises(TypeError):
        VERIFIERS["mine"] = IntuitSignature()  # type: ignore[index]


# --- intuit-signature -------------------------------------------------------------------------------------------


def test_intuit_signing_reproduces_the_python_quickbooks_vector() -> None:
    assert sign_intuit(INTUIT_BODY, INTUIT_TOKEN) == INTUIT_SIGNATURE


@pytest.mark.parametrize(
    "headers",
    [
        {"intuit-signature": INTUIT_SIGNATURE},
        {"Intuit-Signature": INTUIT_SIGNATURE},
        {"INTUIT-SIGNATURE": INTUIT_SIGNATURE},
        Headers(headers={"intuit-signature": INTUIT_SIGNATURE}),
        {"intuit-signature": f" {INTUIT_SIGNATURE}\t"},
    ],
    ids=["lower", "title", "upper", "starlette", "optional-whitespace"],
)
def test_intuit_accepts_the_vector_in_any_header_casing(headers: Mapping[str, str]) -> None:
    IntuitSignature().verify(INTUIT_BODY, headers, [INTUIT_TOKEN])


def test_intuit_accepts_a_signature_by_the_second_of_two_rotated_tokens() -> None:
    IntuitSignature().verify(INTUIT_BODY, {"intuit-signature": INTUIT_SIGNATURE}, ["new_token", INTUIT_TOKEN])


@pytest.mark.parametrize(
    ("body", "headers", "secrets", "reason"),
    [
        (INTUIT_BODY, {"intuit-signature": INTUIT_SIGNATURE}, ["verify_you"], "does not match"),
        (b'{"stuff":"6"}', {"intuit-signature": INTUIT_SIGNATURE}, [INTUIT_TOKEN], "does not match"),
        (INTUIT_BODY, {"intuit-signature": with_char_changed(INTUIT_SIGNATURE, 10)}, [INTUIT_TOKEN], "does not match"),
        # The last character carries 4 bits of digest and 2 padding bits: lenient decoders ignore the padding bits.
        (INTUIT_BODY, {"intuit-signature": INTUIT_SIGNATURE[:-2] + "B="}, [INTUIT_TOKEN], "does not match"),
        (INTUIT_BODY, {}, [INTUIT_TOKEN], "missing header 'intuit-signature'"),
        (INTUIT_BODY, {"signature": INTUIT_SIGNATURE}, [INTUIT_TOKEN], "missing header 'intuit-signature'"),
        (INTUIT_BODY, {"intuit-signature": ""}, [INTUIT_TOKEN], "is empty"),
        (INTUIT_BODY, {"intuit-signature": "  "}, [INTUIT_TOKEN], "is empty"),
        (INTUIT_BODY, {"intuit-signature": INTUIT_SIGNATURE_AS_HEX}, [INTUIT_TOKEN], "not a base64 SHA-256"),
        (INTUIT_BODY, {"intuit-signature": INTUIT_SIGNATURE[:-4]}, [INTUIT_TOKEN], "not a base64 SHA-256"),
        (INTUIT_BODY, {"intuit-signature": INTUIT_SIGNATURE[:-1] + "é"}, [INTUIT_TOKEN], "not ASCII"),
        (INTUIT_BODY, {"intuit-signature": "sha256=garbage!"}, [INTUIT_TOKEN], "not a base64 SHA-256"),
        (
            INTUIT_BODY,
            {"intuit-signature": INTUIT_SIGNATURE[:20] + " " + INTUIT_SIGNATURE[20:]},
            [INTUIT_TOKEN],
            "not a base64 SHA-256",
        ),
        (INTUIT_BODY, {"intuit-signature": INTUIT_SIGNATURE + ","}, [INTUIT_TOKEN], "not a base64 SHA-256"),
        (
            INTUIT_BODY,
            {"intuit-signature": INTUIT_SIGNATURE.replace("+", "-").replace("/", "_")},
            [INTUIT_TOKEN],
            "not a base64 SHA-256",
        ),
        (INTUIT_BODY, {"intuit-signature": INTUIT_SIGNATURE.encode()}, [INTUIT_TOKEN], "not text"),
        (
            INTUIT_BODY,
            Headers(raw=[(b"intuit-signature", INTUIT_SIGNATURE.encode())] * 2),
            [INTUIT_TOKEN],
            "given 2 times",
        ),
        (INTUIT_BODY, None, [INTUIT_TOKEN], "could not be checked"),
    ],
    ids=[
        "wrong-token",
        "body-byte-changed",
        "signature-char-changed",
        "non-canonical-base64",
        "missing-header",
        "other-vendors-header",
        "empty-header",
        "blank-header",
        "hex-instead-of-base64",
        "truncated",
        "non-ascii",
        "garbage",
        "inner-whitespace",
        "trailing-comma",
        "urlsafe-base64",
        "bytes-value",
        "repeated-header",
        "headers-not-a-mapping",
    ],
)
def test_intuit_refuses_a_bad_signature_saying_why(body: bytes, headers: Any, secrets: Any, reason: str) -> None:
    assert reason in refusal(IntuitSignature(), body, headers, secrets)


@pytest.mark.parametrize(
    ("secrets", "reason"),
    [
        # A lone string would make each character a key: "v" alone must not pass for "verify_me".
        ("verify_me", "list of strings"),
        ([], "no signing secret"),
        ([""], "no signing secret"),
        (None, "could not be checked"),
    ],
    ids=["lone-string", "no-secrets", "empty-secret", "none"],
)
def test_intuit_refuses_when_no_usable_token_is_configured(secrets: Any, reason: str) -> None:
    signed_by_v = {"intuit-signature": sign_intuit(INTUIT_BODY, "v")}
    signed_by_empty = {"intuit-signature": sign_intuit(INTUIT_BODY, "")}
    assert reason in refusal(IntuitSignature(), INTUIT_BODY, signed_by_v, secrets)
    assert reason in refusal(IntuitSignature(), INTUIT_BODY, signed_by_empty, secrets)


# --- karbon-signature -------------------------------------------------------------------------------------------


def test_karbon_signing_reproduces_an_openssl_computed_hmac() -> None:
    assert sign_karbon(KARBON_BODY, KARBON_KEY) == KARBON_SIGNATURE


@pytest.mark.parametrize(
    "headers",
    [
        {"Signature": KARBON_SIGNATURE},
        {"signature": KARBON_SIGNATURE},
        {"Signature": KARBON_SIGNATURE.upper()},
        Headers(headers={"Signature": KARBON_SIGNATURE}),
    ],
    ids=["title", "lower", "upper-case-hex", "starlette"],
)
def test_karbon_accepts_hex_in_either_case_under_any_header_casing(headers: Mapping[str, str]) -> None:
    KarbonSignature().verify(KARBON_BODY, headers, [KARBON_KEY])


def test_karbon_accepts_a_signature_by_the_second_of_two_rotated_keys() -> None:
    KarbonSignature().verify(KARBON_BODY, {"Signature": KARBON_SIGNATURE}, ["replacement_key_0001", KARBON_KEY])


KARBON_AS_BASE64 = base64.b64encode(bytes.fromhex(KARBON_SIGNATURE)).decode()


@pytest.mark.parametrize(
    ("body", "headers", "secrets", "reason"),
    [
        (KARBON_BODY, {"Signature": KARBON_SIGNATURE}, ["hub_test_signing_key-02"], "does not match"),
        (KARBON_BODY.replace(b"Updated", b"Deleted"), {"Signature": KARBON_SIGNATURE}, [KARBON_KEY], "does not match"),
        (KARBON_BODY + b" ", {"Signature": KARBON_SIGNATURE}, [KARBON_KEY], "does not match"),
        (KARBON_BODY, {"Signature": with_char_changed(KARBON_SIGNATURE, 0)}, [KARBON_KEY], "does not match"),
        (KARBON_BODY, {}, [KARBON_KEY], "missing header 'signature'"),
        (KARBON_BODY, {"intuit-signature": KARBON_SIGNATURE}, [KARBON_KEY], "missing header 'signature'"),
        (KARBON_BODY, {"Signature": ""}, [KARBON_KEY], "is empty"),
        (KARBON_BODY, {"Signature": KARBON_AS_BASE64}, [KARBON_KEY], "not 64 hex characters"),
        (KARBON_BODY, {"Signature": KARBON_SIGNATURE[:-1]}, [KARBON_KEY], "not 64 hex characters"),
        (KARBON_BODY, {"Signature": KARBON_SIGNATURE[:-1] + "ä"}, [KARBON_KEY], "not ASCII"),
        (KARBON_BODY, {"Signature": "g" * 64}, [KARBON_KEY], "not 64 hex characters"),
        (KARBON_BODY, {"Signature": "sha256=" + KARBON_SIGNATURE}, [KARBON_KEY], "not 64 hex characters"),
        (
            KARBON_BODY,
            {"Signature": KARBON_SIGNATURE[:32] + " " + KARBON_SIGNATURE[32:]},
            [KARBON_KEY],
            "not 64 hex characters",
        ),
        (KARBON_BODY, {"Signature": KARBON_SIGNATURE + ","}, [KARBON_KEY], "not 64 hex characters"),
        (KARBON_BODY, {"Signature": 0xD215}, [KARBON_KEY], "not text"),
        (
            KARBON_BODY,
            {"Signature": KARBON_SIGNATURE, "SIGNATURE": KARBON_SIGNATURE},
            [KARBON_KEY],
            "given 2 times",
        ),
        (KARBON_BODY, {"Signature": KARBON_SIGNATURE}, KARBON_KEY, "list of strings"),
        (KARBON_BODY.decode(), {"Signature": KARBON_SIGNATURE}, [KARBON_KEY], "could not be checked"),
    ],
    ids=[
        "wrong-key",
        "body-word-changed",
        "body-byte-appended",
        "signature-char-changed",
        "missing-header",
        "other-vendors-header",
        "empty-header",
        "base64-instead-of-hex",
        "truncated",
        "non-ascii",
        "non-hex-garbage",
        "prefixed",
        "inner-whitespace",
        "trailing-comma",
        "int-value",
        "repeated-in-two-casings",
        "lone-string-secret",
        "body-as-str",
    ],
)
def test_karbon_refuses_a_bad_signature_saying_why(body: Any, headers: Any, secrets: Any, reason: str) -> None:
    assert reason in refusal(KarbonSignature(), body, headers, secrets)


def test_karbon_docstring_warns_that_the_algorithm_is_undocumented() -> None:
    assert "not document" in (KarbonSignature.__doc__ or "")


# --- standard-webhooks ------------------------------------------------------------------------------------------


def test_standard_signing_reproduces_the_spec_libraries_vector() -> None:
    assert sign_standard(STANDARD_MSG_ID, STANDARD_TIMESTAMP, STANDARD_BODY, STANDARD_SECRET) == STANDARD_SIGNATURE
    assert sign_standard(STANDARD_MSG_ID, STANDARD_NOW, STANDARD_BODY, STANDARD_SECRET) == STANDARD_SIGNATURE


@pytest.mark.parametrize(
    "secret",
    [STANDARD_SECRET, STANDARD_SECRET.removeprefix("whsec_"), STANDARD_SECRET.rstrip("=")],
    ids=["whsec-prefixed", "bare-base64", "unpadded"],
)
def test_standard_accepts_the_vector_with_or_without_the_whsec_prefix(secret: str) -> None:
    StandardWebhooks().verify(STANDARD_BODY, STANDARD_HEADERS, [secret], now=STANDARD_NOW)


def test_standard_accepts_starlette_headers_and_any_casing() -> None:
    headers = {name.upper(): value for name, value in STANDARD_HEADERS.items()}
    StandardWebhooks().verify(STANDARD_BODY, headers, [STANDARD_SECRET], now=STANDARD_NOW)
    StandardWebhooks().verify(STANDARD_BODY, Headers(headers=STANDARD_HEADERS), [STANDARD_SECRET], now=STANDARD_NOW)


def test_standard_accepts_the_libraries_multi_signature_header() -> None:
    entries = [STANDARD_DECOY, STANDARD_DECOY.replace("v1,", "v2,"), STANDARD_SIGNATURE, STANDARD_DECOY]
    headers = {**STANDARD_HEADERS, "webhook-signature": " ".join(entries)}
    StandardWebhooks().verify(STANDARD_BODY, headers, [STANDARD_SECRET], now=STANDARD_NOW)


def test_standard_accepts_a_sender_signing_with_old_and_new_secrets_during_rotation() -> None:
    old = sign_standard(STANDARD_MSG_ID, STANDARD_TIMESTAMP, STANDARD_BODY, OTHER_STANDARD_SECRET)
    headers = {**STANDARD_HEADERS, "webhook-signature": f"{old}  {STANDARD_SIGNATURE}\t"}
    StandardWebhooks().verify(STANDARD_BODY, headers, [STANDARD_SECRET], now=STANDARD_NOW)


def test_standard_accepts_a_receiver_holding_old_and_new_secrets_during_rotation() -> None:
    StandardWebhooks().verify(
        STANDARD_BODY, STANDARD_HEADERS, [OTHER_STANDARD_SECRET, STANDARD_SECRET], now=STANDARD_NOW
    )


@pytest.mark.parametrize("offset", [-300, 300], ids=["5-minutes-old", "5-minutes-ahead"])
def test_standard_accepts_a_timestamp_exactly_at_the_tolerance(offset: int) -> None:
    StandardWebhooks().verify(
        STANDARD_BODY, STANDARD_HEADERS, [STANDARD_SECRET], now=STANDARD_NOW - timedelta(seconds=offset)
    )


def test_standard_reads_a_naive_now_as_utc() -> None:
    StandardWebhooks().verify(STANDARD_BODY, STANDARD_HEADERS, [STANDARD_SECRET], now=STANDARD_NOW.replace(tzinfo=None))


def test_standard_refuses_a_timestamp_too_old_saying_so() -> None:
    reason = refusal(
        StandardWebhooks(), STANDARD_BODY, STANDARD_HEADERS, [STANDARD_SECRET], STANDARD_NOW + timedelta(seconds=301)
    )
    assert "too old (301 s in the past)" in reason


def test_standard_refuses_a_timestamp_too_new_saying_so() -> None:
    reason = refusal(
        StandardWebhooks(), STANDARD_BODY, STANDARD_HEADERS, [STANDARD_SECRET], STANDARD_NOW - timedelta(seconds=301)
    )
    assert "too new (301 s in the future)" in reason


def standard(**changes: Any) -> dict[str, Any]:
    """Return the vector's headers with some replaced; a value of None removes that header."""
    headers = {**STANDARD_HEADERS, **changes}
    return {name: value for name, value in headers.items() if value is not None}


SIGNATURE_DIGEST = STANDARD_SIGNATURE.removeprefix("v1,")
# Unicode digits that str.isdigit() and int() accept, but HTTP and the spec do not.
FULL_WIDTH_TIMESTAMP = str(STANDARD_TIMESTAMP).translate({digit: digit + 0xFEE0 for digit in range(0x30, 0x3A)})


@pytest.mark.parametrize(
    ("body", "headers", "secrets", "reason"),
    [
        (STANDARD_BODY, STANDARD_HEADERS, [OTHER_STANDARD_SECRET], "matches"),
        (STANDARD_BODY.replace(b"4}", b"5}"), STANDARD_HEADERS, [STANDARD_SECRET], "matches"),
        (STANDARD_BODY, standard(**{"webhook-signature": STANDARD_WRONG_SIGNATURE}), [STANDARD_SECRET], "matches"),
        (STANDARD_BODY, standard(**{"webhook-id": STANDARD_MSG_ID + "x"}), [STANDARD_SECRET], "matches"),
        (
            STANDARD_BODY,
            standard(**{"webhook-timestamp": str(STANDARD_TIMESTAMP + 1)}),
            [STANDARD_SECRET],
            "matches",
        ),
        (
            STANDARD_BODY,
            standard(**{"webhook-signature": None}),
            [STANDARD_SECRET],
            "missing header 'webhook-signature'",
        ),
        (STANDARD_BODY, standard(**{"webhook-id": None}), [STANDARD_SECRET], "missing header 'webhook-id'"),
        (
            STANDARD_BODY,
            standard(**{"webhook-timestamp": None}),
            [STANDARD_SECRET],
            "missing header 'webhook-timestamp'",
        ),
        (STANDARD_BODY, standard(**{"webhook-signature": ""}), [STANDARD_SECRET], "is empty"),
        (STANDARD_BODY, standard(**{"webhook-id": ""}), [STANDARD_SECRET], "is empty"),
        (
            STANDARD_BODY,
            standard(**{"webhook-signature": "v1," + base64.b64decode(SIGNATURE_DIGEST).hex()}),
            [STANDARD_SECRET],
            "matches",
        ),
        (STANDARD_BODY, standard(**{"webhook-signature": STANDARD_SIGNATURE[:-5]}), [STANDARD_SECRET], "matches"),
        (STANDARD_BODY, standard(**{"webhook-signature": STANDARD_SIGNATURE + "ü"}), [STANDARD_SECRET], "not ASCII"),
        (STANDARD_BODY, standard(**{"webhook-id": "msg_ü"}), [STANDARD_SECRET], "not ASCII"),
        (STANDARD_BODY, standard(**{"webhook-signature": "garbage"}), [STANDARD_SECRET], "no v1 signature"),
        (STANDARD_BODY, standard(**{"webhook-signature": SIGNATURE_DIGEST}), [STANDARD_SECRET], "no v1 signature"),
        (
            STANDARD_BODY,
            standard(**{"webhook-signature": "v1a," + SIGNATURE_DIGEST}),
            [STANDARD_SECRET],
            "no v1 signature",
        ),
        (
            STANDARD_BODY,
            standard(**{"webhook-signature": "V1," + SIGNATURE_DIGEST}),
            [STANDARD_SECRET],
            "no v1 signature",
        ),
        (STANDARD_BODY, standard(**{"webhook-signature": "v1,," + SIGNATURE_DIGEST}), [STANDARD_SECRET], "matches"),
        (STANDARD_BODY, standard(**{"webhook-signature": STANDARD_SIGNATURE + ","}), [STANDARD_SECRET], "matches"),
        (STANDARD_BODY, standard(**{"webhook-signature": "v1, " + SIGNATURE_DIGEST}), [STANDARD_SECRET], "matches"),
        (
            STANDARD_BODY,
            standard(**{"webhook-signature": STANDARD_SIGNATURE[:20] + " " + STANDARD_SIGNATURE[20:]}),
            [STANDARD_SECRET],
            "matches",
        ),
        (STANDARD_BODY, standard(**{"webhook-timestamp": "yesterday"}), [STANDARD_SECRET], "not unix seconds"),
        (STANDARD_BODY, standard(**{"webhook-timestamp": "1614265330.0"}), [STANDARD_SECRET], "not unix seconds"),
        (STANDARD_BODY, standard(**{"webhook-timestamp": "-1614265330"}), [STANDARD_SECRET], "not unix seconds"),
        (STANDARD_BODY, standard(**{"webhook-timestamp": "9" * 400}), [STANDARD_SECRET], "not unix seconds"),
        (STANDARD_BODY, standard(**{"webhook-timestamp": FULL_WIDTH_TIMESTAMP}), [STANDARD_SECRET], "not ASCII"),
        (STANDARD_BODY, STANDARD_HEADERS, ["whsec_not base64!"], "not a whsec_<base64> key"),
        (STANDARD_BODY, STANDARD_HEADERS, ["whsec_"], "not a whsec_<base64> key"),
    ],
    ids=[
        "wrong-secret",
        "body-byte-changed",
        "signature-char-changed",
        "msg-id-changed",
        "timestamp-changed-within-tolerance",
        "missing-signature",
        "missing-webhook-id",
        "missing-timestamp",
        "empty-signature",
        "empty-webhook-id",
        "hex-instead-of-base64",
        "truncated",
        "non-ascii-signature",
        "non-ascii-webhook-id",
        "garbage",
        "no-version-prefix",
        "unknown-version-only",
        "upper-case-version",
        "doubled-comma",
        "trailing-comma",
        "space-after-comma",
        "inner-whitespace",
        "non-numeric-timestamp",
        "fractional-timestamp",
        "negative-timestamp",
        "absurdly-long-timestamp",
        "full-width-digits",
        "secret-not-base64",
        "secret-empty-after-prefix",
    ],
)
def test_standard_refuses_a_bad_signature_saying_why(body: bytes, headers: Any, secrets: Any, reason: str) -> None:
    assert reason in refusal(StandardWebhooks(), body, headers, secrets)


def test_standard_sign_gives_fresh_message_ids_the_verifier_accepts() -> None:
    first = StandardWebhooks().sign(STANDARD_BODY, STANDARD_SECRET, now=STANDARD_NOW)
    second = StandardWebhooks().sign(STANDARD_BODY, STANDARD_SECRET, now=STANDARD_NOW)
    assert first["webhook-id"] != second["webhook-id"]
    assert "." not in first["webhook-id"]
    StandardWebhooks().verify(STANDARD_BODY, first, [STANDARD_SECRET], now=STANDARD_NOW)


def test_standard_sign_with_a_given_message_id_reproduces_the_vector() -> None:
    headers = StandardWebhooks().sign(STANDARD_BODY, STANDARD_SECRET, now=STANDARD_NOW, msg_id=STANDARD_MSG_ID)
    assert headers == STANDARD_HEADERS


# --- every scheme -----------------------------------------------------------------------------------------------

HEADER_NAMES = ["intuit-signature", "signature", "webhook-id", "webhook-timestamp", "webhook-signature"]
header_name = st.sampled_from(HEADER_NAMES).flatmap(lambda name: st.sampled_from([name, name.upper(), name.title()]))
header_value = st.one_of(
    st.text(),
    st.text(alphabet="v1a,=+/ \tABCabc0189.-_é", max_size=80),
    st.sampled_from([str(STANDARD_TIMESTAMP), STANDARD_MSG_ID, STANDARD_SIGNATURE, INTUIT_SIGNATURE]),
    st.binary(max_size=20),
    st.none(),
    st.integers(),
)
any_headers = st.dictionaries(st.one_of(header_name, st.text(max_size=20)), header_value, max_size=6)
any_secrets = st.one_of(
    st.lists(st.text(max_size=30), max_size=3),
    st.sampled_from([[STANDARD_SECRET], [KARBON_KEY], [INTUIT_TOKEN], "verify_me"]),
    st.none(),
)


@pytest.mark.parametrize("name", sorted(VERIFIERS))
@given(body=st.binary(max_size=64), headers=any_headers, secrets=any_secrets)
def test_arbitrary_headers_never_raise_anything_but_signature_invalid(
    name: str, body: bytes, headers: dict[Any, Any], secrets: Any
) -> None:
    with pytest.raises(SignatureInvalid):
        VERIFIERS[name].verify(body, headers, secrets, now=STANDARD_NOW)


SECRETS_BY_SCHEME = {
    "intuit-signature": st.text(min_size=1, max_size=40),
    "karbon-signature": st.from_regex(r"[A-Za-z0-9_-]{16,40}", fullmatch=True),
    "standard-webhooks": st.binary(min_size=24, max_size=64).map(lambda key: "whsec_" + base64.b64encode(key).decode()),
}


@pytest.mark.parametrize("name", sorted(VERIFIERS))
@given(data=st.data(), body=st.binary(min_size=1, max_size=200))
def test_what_a_scheme_signs_it_accepts_and_a_changed_body_it_refuses(
    name: str, data: st.DataObject, body: bytes
) -> None:
    verifier = VERIFIERS[name]
    secret = data.draw(SECRETS_BY_SCHEME[name])
    headers = verifier.sign(body, secret, now=STANDARD_NOW)
    verifier.verify(body, headers, [secret], now=STANDARD_NOW)
    tampered = bytes([body[0] ^ 1]) + body[1:]
    assert "match" in refusal(verifier, tampered, headers, [secret])
