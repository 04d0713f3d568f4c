"""The overwrite rules, one field at a time, over every kind of value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hub.merge import Side, decide, same, writes
from hub.types import UNSET, is_blank

T = datetime(2026, 3, 1, tzinfo=UTC)
values = st.one_of(st.just(UNSET), st.none(), st.just(""), st.just("  "), st.text(max_size=5), st.integers(0, 3))
times = st.one_of(st.none(), st.integers(-5, 5).map(lambda n: T + timedelta(minutes=n)))
rules = st.sampled_from(["never", "fill_blank", "overwrite", "newest", "mirror"])


def test_fill_blank_writes_only_into_a_blank_target():
    assert writes("fill_blank", Side("x"), Side(None))
    assert writes("fill_blank", Side("x"), Side("  "))
    assert not writes("fill_blank", Side("x"), Side("y"))
    assert not writes("fill_blank", Side(""), Side(None))


def test_overwrite_needs_a_source_value_and_mirror_copies_blanks_too():
    assert writes("overwrite", Side("x"), Side("y"))
    assert not writes("overwrite", Side(""), Side("y"))
    assert writes("mirror", Side(""), Side("y"))
    assert not writes("mirror", Side(UNSET), Side("y")), "an absent field is not a blank to copy"


def test_newest_takes_the_later_change_and_never_an_unknown_time():
    assert writes("newest", Side("x", T + timedelta(1)), Side("y", T))
    assert not writes("newest", Side("x", T), Side("y", T + timedelta(1)))
    assert not writes("newest", Side("x", None), Side("y", T))
    assert writes("newest", Side("x", T), Side("y", None))


@given(rule=rules, source=values, target=values, source_time=times, target_time=times)
def test_no_rule_writes_a_value_that_is_already_there(rule, source, target, source_time, target_time):
    if same(source, target):
        assert not writes(rule, Side(source, source_time), Side(target, target_time))


@given(to_home=rules, to_remote=rules, home=values, remote=values, home_time=times, remote_time=times)
def test_a_decision_writes_at_most_one_way_and_says_why(to_home, to_remote, home, remote, home_time, remote_time):
    decision = decide("email", "later", to_home, to_remote, Side(home, home_time), Side(remote, remote_time))
    assert decision.reason
    if decision.direction == "to_home":
        assert decision.after == remote and writes(to_home, Side(remote, remote_time), Side(home, home_time))
    elif decision.direction == "to_remote":
        assert decision.after == home and writes(to_remote, Side(home, home_time), Side(remote, remote_time))
    else:
        assert decision.after == home


@given(values)
def test_every_kind_of_blank_equals_every_other(value):
    assert same(value, None) == is_blank(value)
