"""Stored time text: one format whatever the moment's zone (the clock's UTC takes a faster path)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.common.timefmt import UTC_FORMAT, parse_utc, utc_text

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))])


@given(moment=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=ZONES))
def test_utc_text_is_the_stored_format_of_the_moment_in_utc(moment: datetime) -> None:
    text = utc_text(moment)
    assert text == moment.astimezone(UTC).strftime(UTC_FORMAT)
    if moment.year >= 1000 and moment.astimezone(UTC).year >= 1000:
        assert parse_utc(text) == moment


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_text(datetime(2026, 12, 3, 12, 0))
