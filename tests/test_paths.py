"""Remote field paths: reading and writing nested vendor data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.paths import get_path, nest, parse_path, set_path
from hub.types import UNSET


def test_a_path_reads_through_objects_and_lists():
    data = {"BusinessCard": {"WebSites": ["https://a.example"], "PhoneNumbers": [{"Number": "555"}]}}
    assert get_path(data, "BusinessCard.WebSites[0]") == "https://a.example"
    assert get_path(data, "BusinessCard.PhoneNumbers[0].Number") == "555"
    assert get_path(data, "BusinessCard.PhoneNumbers[1].Number") is UNSET
    assert get_path(data, "Missing.Value") is UNSET


def test_writing_a_path_builds_what_is_missing_and_keeps_the_rest():
    data = {"PrimaryEmailAddr": {"Address": "old@example"}, "Keep": 1}
    set_path(data, "PrimaryEmailAddr.Address", "new@example")
    set_path(data, "BusinessCard.Addresses[0].City", "Leeds")
    assert data == {"PrimaryEmailAddr": {"Address": "new@example"}, "Keep": 1,
                    "BusinessCard": {"Addresses": [{"City": "Leeds"}]}}


@pytest.mark.parametrize("bad", ["", ".a", "a.", "a..b", "a[x]", "a[0", "a b"])
def test_a_malformed_path_is_refused_with_the_path_named(bad):
    with pytest.raises(ValueError, match="not a field path"):
        parse_path(bad)


names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,5}", fullmatch=True)
paths = st.lists(st.tuples(names, st.integers(0, 2) | st.none()), min_size=1, max_size=4).map(
    lambda steps: ".".join(name + (f"[{index}]" if index is not None else "") for name, index in steps))


@given(path=paths, value=st.one_of(st.text(max_size=5), st.integers(), st.none()))
def test_what_is_written_at_a_path_is_read_back(path, value):
    document = nest({path: value})
    assert get_path(document, path) == value
