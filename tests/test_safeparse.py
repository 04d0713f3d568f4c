"""Strict webhook body parsing: JSON refusals with reasons, XML without DTDs or entities, and round trips."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hub.errors import MalformedPayload
from hub.safeparse import parse_json, parse_xml


def refusal(body: bytes, **options: Any) -> str:
    """Return the reason parse_json gives for refusing `body` (failing the test if it parses)."""
    with pytest.raises(MalformedPayload) as refused:
        parse_json(body, **options)
    return str(refused.value)


def xml_refusal(body: bytes) -> str:
    """Return the reason parse_xml gives for refusing `body` (failing the test if it parses)."""
    with pytest.raises(MalformedPayload) as refused:
        parse_xml(body)
    return str(refused.value)


def nested(depth: int, opener: str = "[") -> bytes:
    """Return a JSON array or object nested `depth` levels deep."""
    if opener == "[":
        return ("[" * depth + "]" * depth).encode()
    return ('{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)).encode()


# --- JSON -------------------------------------------------------------------------------------------------------


def test_json_parses_a_quickbooks_notification() -> None:
    body = (
        b'{"eventNotifications":[{"realmId":"310687","dataChangeEvent":{"entities":'
        b'[{"name":"Customer","id":"1","operation":"Update","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}'
    )
    entity = parse_json(body)["eventNotifications"][0]["dataChangeEvent"]["entities"][0]
    assert entity == {"name": "Customer", "id": "1", "operation": "Update", "lastUpdated": "2015-10-05T14:42:19-0700"}


def test_json_refuses_invalid_utf8_naming_the_offset() -> None:
    assert refusal(b'{"FullName":"Caf\xe9"}') == (
        "body is not valid UTF-8: byte 0xe9 at offset 16 (invalid continuation byte)"
    )


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"a": }', "line 1 column 7"),
        (b'{\n  "a": 1,\n}', "line 3 column 1"),
        (b"", "line 1 column 1"),
        (b'["unterminated', "line 1 column 2"),
        (b"[1] [2]", "line 1 column 5"),
    ],
    ids=["missing-value", "trailing-comma", "empty-body", "unterminated-string", "two-documents"],
)
def test_json_syntax_error_says_line_and_column(body: bytes, where: str) -> None:
    assert f"invalid JSON at {where}" in refusal(body)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_refuses_non_finite_literals(literal: str) -> None:
    assert refusal(f'{{"amount": {literal}}}'.encode()) == f"{literal} is not a JSON number"


def test_json_refuses_a_number_too_large_to_be_finite() -> None:
    assert refusal(b'{"amount": 1e400}') == "number 1e400 is out of range"


def test_json_refuses_an_integer_longer_than_python_converts() -> None:
    assert "invalid JSON" in refusal(b"[" + b"9" * 5000 + b"]")


@pytest.mark.parametrize(
    "body",
    [b'{"id": 1, "id": 2}', b'{"entities": [{"id": "1", "name": "a", "id": "2"}]}', b'{"id": 1, "\\u0069d": 2}'],
    ids=["top-level", "nested", "escaped-spelling"],
)
def test_json_refuses_duplicate_keys_naming_the_key(body: bytes) -> None:
    assert refusal(body) == "duplicate key 'id' in a JSON object"


@pytest.mark.parametrize("opener", ["[", "{"], ids=["arrays", "objects"])
def test_json_accepts_nesting_64_deep_and_refuses_65_naming_the_limit(opener: str) -> None:
    assert parse_json(nested(64, opener)) is not None
    assert refusal(nested(65, opener)) == "JSON is nested 65 levels deep; the limit is 64"


def test_json_depth_limit_is_configurable() -> None:
    assert parse_json(b"[[1]]", max_depth=2) == [[1]]
    assert "the limit is 1" in refusal(b"[[1]]", max_depth=1)


def test_json_a_million_levels_deep_is_refused_without_recursion_error() -> None:
    assert "the limit is 64" in refusal(b"[" * 1_000_000)


def test_json_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '[ "\\\\" , "\\"[[[[" , "' + "[{" * 100 + '" , "\\\\\\"{{{{" ]'
    assert parse_json(text.encode(), max_depth=1) == ["\\", '"[[[[', "[{" * 100, '\\"{{{{']


def test_json_many_shallow_siblings_are_not_mistaken_for_depth() -> None:
    assert parse_json(json.dumps([[{}]] * 100).encode()) == [[{}]] * 100


def test_json_brackets_in_an_unterminated_string_are_refused_as_syntax_not_depth() -> None:
    assert "Unterminated string" in refusal(b'["' + b'\\"[' * 100_000)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


def depth_of(value: Any) -> int:
    """Return how deeply lists and dicts nest in `value`."""
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


@given(value=json_values, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_json_any_value_json_dumps_produces_round_trips(value: Any, ensure_ascii: bool, indent: int | None) -> None:
    assume(depth_of(value) <= 64)
    assert parse_json(json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode()) == value


@given(body=st.binary(max_size=200) | st.text(alphabet='[]{}"\\,:1 ntruefalsNI-', max_size=200).map(str.encode))
def test_json_arbitrary_bytes_either_parse_or_raise_malformed_payload(body: bytes) -> None:
    with contextlib.suppress(MalformedPayload):
        parse_json(body, max_depth=3)


# --- XML --------------------------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Response><Status>&xxe;</Status></Response>"""


def test_xml_parses_a_practice_manager_response() -> None:
    root = parse_xml(b'<Response api-method="Get"><Status>OK</Status><Client><ID>7</ID></Client></Response>')
    assert root.tag == "Response"
    assert root.findtext("Client/ID") == "7"


def test_xml_refuses_billion_laughs_naming_the_entity() -> None:
    assert (
        xml_refusal(BILLION_LAUGHS) == "XML entity declaration 'lol' refused (entity expansion, as in 'billion laughs')"
    )


def test_xml_refuses_an_external_entity_without_reading_the_file() -> None:
    reason = xml_refusal(EXTERNAL_ENTITY)
    assert reason == "XML external entity 'xxe' (file:///etc/passwd) refused"


def test_xml_refuses_an_external_parameter_entity() -> None:
    reason = xml_refusal(b'<!DOCTYPE a [<!ENTITY % remote SYSTEM "http://example.invalid/x.dtd"> %remote;]><a/>')
    assert reason == "XML external entity 'remote' (http://example.invalid/x.dtd) refused"


def test_xml_refuses_a_dtd_that_declares_no_entities() -> None:
    assert xml_refusal(b"<!DOCTYPE a [<!ELEMENT a ANY>]><a/>") == "XML document type declarations (DTDs) are refused"


def test_xml_refuses_an_external_dtd_naming_it() -> None:
    assert xml_refusal(b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>') == (
        "XML external DTD 'http://example.invalid/a.dtd' refused"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<Response><Status>OK</Response>", "malformed XML: mismatched tag: line 1, column 22"),
        (b"", "malformed XML: no element found: line 1, column 0"),
        (b"<a>&undeclared;</a>", "malformed XML: undefined entity: line 1, column 3"),
        (b'<?xml version="1.0" encoding="utf-32"?><a/>', "unsupported XML encoding"),
        (b'<?xml version="1.0" encoding="no-such-codec"?><a/>', "unsupported XML encoding"),
    ],
    ids=["mismatched-tag", "empty", "undefined-entity", "multi-byte-encoding", "unknown-encoding"],
)
def test_xml_refuses_malformed_documents_saying_where(body: bytes, reason: str) -> None:
    assert xml_refusal(body).startswith(reason)


@given(body=st.binary(max_size=120) | st.text(alphabet="<>/!&;%\"'=? aDOCTYPENIx", max_size=120).map(str.encode))
def test_xml_arbitrary_bytes_either_parse_or_raise_malformed_payload(body: bytes) -> None:
    with contextlib.suppress(MalformedPayload):
        parse_xml(body)
