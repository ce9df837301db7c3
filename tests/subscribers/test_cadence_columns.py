"""How often and when, in the subscribers CSV: ``frequency``, ``send_time`` and
``paused_until``, on SQLite and PostgreSQL.

What an operator relies on: each value is read the same whichever way it is
written (``Weekly``, `` 7:30 ``), an empty field is the site's, a bad one is
named by line, column and value, a column the file does not have leaves what
is stored alone, and an export imports back with nothing changed.
"""

from __future__ import annotations

import io
from datetime import date, time

import pytest
from conftest import subscriber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.subscribers.admin import export
from digest.subscribers.csv_import import import_csv
from digest.subscribers.fields import parse_frequency, parse_paused_until, parse_send_time

HEADER = "email,name,topics,timezone,frequency,send_time,paused_until"


def imported(store, tmp_path, text: str, name: str = "s.csv"):
    path = tmp_path / name
    path.write_text(text, "utf-8", newline="")
    errors, warnings = [], []
    result = import_csv(path, store, lambda e: errors.append(str(e)), warnings.append)
    return result, errors


def exported(store) -> str:
    stream = io.StringIO()
    export(store, None, stream=stream)
    return stream.getvalue()


def cadence(store) -> dict:
    return {
        s.email: (s.frequency, s.send_time, s.paused_until)
        for s in store.list_subscribers(active_only=False)
    }


def test_each_value_is_read_in_any_case_and_spacing_and_empty_is_the_sites(store, tmp_path):
    text = "\n".join(
        [
            HEADER,
            "ana@example.com,Ana,,,Weekly, 7:30 ,2026-12-24",
            "bo@example.org,Bo,,,DAILY,23:59,",
            "cy@example.net,Cy,,,,,",
            "dee@example.com,Dee,,,default,Default,DEFAULT",
        ]
    )
    result, errors = imported(store, tmp_path, text)

    assert (errors, result.added) == ([], 4)
    assert cadence(store) == {
        "ana@example.com": ("weekly", time(7, 30), date(2026, 12, 24)),
        "bo@example.org": ("daily", time(23, 59), None),
        "cy@example.net": (None, None, None),
        "dee@example.com": (None, None, None),
    }


def test_a_bad_value_is_named_with_its_line_column_and_value(store, tmp_path):
    text = "\n".join(
        [
            HEADER,
            "ok@example.com,Ok,,,weekly,06:00,2026-12-24",
            "f@example.com,F,,,monthly,,",
            "t@example.com,T,,,,24:00,",
            "m@example.com,M,,,,7:5,",
            "d@example.com,D,,,,,2026-02-30",
            "w@example.com,W,,,,,24/12/2026",
        ]
    )
    result, errors = imported(store, tmp_path, text)

    path = tmp_path / "s.csv"
    assert errors == [
        f"{path}:3: frequency: not daily or weekly: 'monthly'",
        f"{path}:4: send_time: not a time of day HH:MM (00:00 to 23:59): '24:00'",
        f"{path}:5: send_time: not a time of day HH:MM (00:00 to 23:59): '7:5'",
        f"{path}:6: paused_until: not a date YYYY-MM-DD such as 2026-12-24: '2026-02-30'",
        f"{path}:7: paused_until: not a date YYYY-MM-DD such as 2026-12-24: '24/12/2026'",
    ]
    assert (result.added, result.rejected) == (1, 5)
    assert list(cadence(store)) == ["ok@example.com"]


def test_a_column_left_out_keeps_what_is_stored_and_one_given_empty_clears_it(store, tmp_path):
    ana = subscriber("ana@example.com", name="Ana")
    ana.frequency, ana.send_time, ana.paused_until = "weekly", time(6, 30), date(2026, 12, 31)
    store.save_subscribers([ana])

    # A file from another tool, with only a frequency: her time and pause stay.
    imported(store, tmp_path, "email,name,frequency\nana@example.com,Ana,daily\n", "a.csv")
    assert cadence(store)["ana@example.com"] == ("daily", time(6, 30), date(2026, 12, 31))

    # A file without any of the three (last year's export): nothing of them changes.
    imported(store, tmp_path, "email,name,topics,timezone\nana@example.com,Ana,,\n", "b.csv")
    assert cadence(store)["ana@example.com"] == ("daily", time(6, 30), date(2026, 12, 31))

    # The column there but empty: back to the site's.
    imported(store, tmp_path, "email,name,send_time\nana@example.com,Ana,\n", "c.csv")
    assert cadence(store)["ana@example.com"] == ("daily", None, date(2026, 12, 31))


frequencies = st.sampled_from(["", "daily", "weekly", "Daily", " WEEKLY ", "default"])
send_times = st.one_of(
    st.sampled_from(["", "default", " Default "]),
    st.builds(
        lambda h, m, pad: f"{h:0{pad}d}:{m:02d}",
        st.integers(0, 23),
        st.integers(0, 59),
        st.sampled_from([1, 2]),
    ),
)
pauses = st.one_of(
    st.sampled_from(["", "default"]),
    st.dates(date(2000, 1, 1), date(2099, 12, 31)).map(date.isoformat),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(st.tuples(frequencies, send_times, pauses), min_size=1, max_size=12))
def test_any_valid_values_import_as_read_and_their_export_imports_back_unchanged(
    store, tmp_path, rows
):
    with store.engine.begin() as conn:  # the store of the previous example
        conn.exec_driver_sql("DELETE FROM subscribers")
    lines = [HEADER] + [
        f"p{n}@example.com,P{n},,,{often},{at},{until}" for n, (often, at, until) in enumerate(rows)
    ]
    result, errors = imported(store, tmp_path, "\n".join(lines) + "\n")
    assert (errors, result.added) == ([], len(rows))
    expected = {
        f"p{n}@example.com": (parse_frequency(o), parse_send_time(a), parse_paused_until(u))
        for n, (o, a, u) in enumerate(rows)
    }
    assert cadence(store) == expected

    text = exported(store)
    again, errors = imported(store, tmp_path, text, "export.csv")
    assert errors == []
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(rows))
    assert cadence(store) == expected
    assert exported(store) == text


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("00:00", time(0, 0)), ("0:05", time(0, 5)), ("23:59", time(23, 59)), (" 7:30 ", time(7, 30))],
)
def test_a_send_time_is_any_minute_of_the_day(raw, parsed):
    assert parse_send_time(raw) == parsed


@pytest.mark.parametrize("raw", ["24:00", "7", "07:60", "07:30:00", "７:30", "-1:00", "7h30"])
def test_anything_else_is_not_a_send_time(raw):
    with pytest.raises(ValueError, match="send_time: not a time of day HH:MM"):
        parse_send_time(raw)
