"""Random subscriber files, hostile content included: each line judged alone, nothing lost.

Every generated file mixes rows that are valid on their own line (with
commas, quotes, control characters, escapes, bidi overrides and non-ASCII in
their values) and rows poisoned in a known way, some spanning two lines. The
properties: no exception; each valid row stored exactly as ``validate``
normalises it; each other line named once, by number; the counts add up.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
import string
from email.headerregistry import Address

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import digest.subscribers.csv_import as subscribers_module
from digest import validate
from digest.keywords import IGNORED_WORDS, why_never_matched
from digest.store.schema import subscribers
from digest.subscribers.csv_import import SubscriberCSV, import_csv, parse_subscriber
from digest.subscribers.fields import parse_topics

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
# Anything a line may hold: no line break, which would make it two lines.
HOSTILE = st.sampled_from(
    [
        *"aZ9 ,;\"'[]/\\",
        *["\x00", "\x07", "\x1b[31m", "\x7f", "\x9b", "\u202e", "\u2066"],
        *["é", "ß", "日本", "\U0001f600", "\x85", "\u2028", "\t", "\x0b", "  "],
    ]
)
ZONES = ["", "UTC", "Europe/London", " Asia/Tokyo ", "\x00America/New_York"]


def hostile_text(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(HOSTILE, max_size=max_size).map("".join)


def address(local: str, domain: str, tld: str, upper: bool, pad: str) -> str:
    plain = f"{local}@{domain}.{tld}"
    return pad + (plain.upper() if upper else plain)


addresses = st.builds(
    address,
    st.text(ATEXT, min_size=1, max_size=10),
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8),
    st.sampled_from(["com", "org", "example"]),
    st.booleans(),
    st.sampled_from(["", " ", "\x00"]),  # removed at the edge
)
valid_rows = st.fixed_dictionaries(
    {
        "name": st.one_of(hostile_text(12), hostile_text(40).map(lambda t: t * 6)),
        # A topic is kept when it has a letter or digit (or is empty once cleaned, and
        # dropped); one of punctuation alone is a poison of its own (below).
        "topics": st.lists(
            hostile_text(8).filter(
                lambda t: (
                    ";" not in t
                    and (
                        why_never_matched(validate.clean_line(t)) is None
                        or not validate.clean_line(t)
                    )
                )
            ),
            max_size=4,
        ),
        "timezone": st.sampled_from(ZONES),
        "first_name": hostile_text(12),
        "quote_all": st.booleans(),
    }
)
POISONS = [
    "unterminated",
    "two_lines",
    "bad_email",
    "long_email",
    "zone",
    "long_topic",
    "no_word_topic",
    "extra",
]
poisons = st.sampled_from(POISONS)


def field(value: str, quote: bool) -> str:
    if quote or any(c in value for c in ',"') or value != value.strip(" "):
        return '"' + value.replace('"', '""') + '"'
    return value


def valid_line(email: str, row: dict) -> tuple[str, tuple]:
    values = (email, row["name"], ";".join(row["topics"]), row["timezone"], row["first_name"])
    return ",".join(field(v, row["quote_all"]) for v in values), values


def poisoned_lines(kind: str, email: str, row: dict) -> list[str]:
    line, _ = valid_line(email, row)
    plain = row["name"].replace('"', "")
    return {
        "unterminated": [f'{email},"{plain},,'],
        # A quoted value with a line break: two lines, each with an odd number of quotes.
        "two_lines": [f'{email},"first half', f'second half {plain.replace("@", "")}",,'],
        "bad_email": [f"{email.replace('@', ' at ')},{field(row['name'], True)},,"],
        "long_email": ["x" * 60 + "@" + "d" * 200 + ".example.com,Long,,"],
        "zone": [f"{email},x,,America"],
        "long_topic": [f"{email},x,{'t' * (validate.MAX_KEYWORD + 1)},"],
        "no_word_topic": [f"{email},x,Space;*,"],
        "extra": [line + ",surprise"],
    }[kind]


@st.composite
def subscriber_files(draw):
    emails = draw(
        st.lists(addresses, min_size=1, max_size=12, unique_by=lambda a: a.strip("\x00 ").lower())
    )
    lines: list[str] = []
    valid: dict[int, tuple] = {}  # line number -> raw field values
    bad: set[int] = set()
    used: list[str] = []
    for email in emails:
        number = len(lines) + 2  # the header is line 1
        choice = draw(st.sampled_from(["valid", "valid", "poison", "duplicate", "blank"]))
        if choice == "blank":
            lines.append(draw(st.sampled_from(["", "  ", "\t"])))
        if choice in ("valid", "blank") or (choice == "duplicate" and not used):
            number = len(lines) + 2
            text, values = valid_line(email, draw(valid_rows))
            lines.append(text)
            valid[number] = values
            used.append(email)
        elif choice == "duplicate":
            again = draw(st.sampled_from(used)).strip("\x00 ").upper()
            lines.append(f"{again},Again,,")
            bad.add(number)
        else:
            new = poisoned_lines(draw(poisons), email.strip("\x00 "), draw(valid_rows))
            bad.update(range(number, number + len(new)))
            lines.extend(new)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    # The first name's column as digest, Mailchimp ("First Name", its FNAME) and others spell it.
    first = draw(st.sampled_from(["first_name", "First Name", "FNAME", "firstname", "Given name"]))
    text = bom + newline.join([f"email,name,topics,timezone,{first}", *lines]) + newline
    return text.encode("utf-8"), valid, bad, len([line for line in lines if line.strip()])


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=subscriber_files())
def test_every_line_is_stored_or_named(store, tmp_path, case):
    content, valid, bad, data_lines = case
    with store.engine.begin() as conn:
        conn.execute(subscribers.delete())
    path = tmp_path / "random.csv"
    path.write_bytes(content)
    errors, warnings = [], []

    result = import_csv(path, store, errors.append, warnings.append)

    named = [int(error.where.rsplit(":", 1)[1]) for error in errors]
    assert sorted(named) == sorted(bad), [str(e) for e in errors]
    assert all(error.where.startswith(f"{path}:") for error in errors)
    expected = {}
    for values in valid.values():
        email, name, topics, timezone, first_name = values
        sub = parse_subscriber(email, name, topics, timezone, first_name=first_name)
        if len(sub.name) > validate.MAX_NAME:
            sub.name = validate.shorten(sub.name, validate.MAX_NAME)
        expected[sub.email] = (sub.name, sub.topics, sub.timezone, sub.first_name)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(subscribers)).all()
    stored = {
        r.email: (r.name, [t for t in r.topics.split(";") if t], r.timezone, r.first_name)
        for r in rows
    }
    assert stored == expected
    assert len(warnings) == sum(
        len(validate.clean_line(v[1])) > validate.MAX_NAME for v in valid.values()
    )
    assert (result.added, result.updated, result.rejected) == (len(valid), 0, len(bad))
    assert result.added + result.updated + result.rejected == data_lines


def _accepted(address: str) -> bool:
    try:
        validate.check_email(address)
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    local=st.text(ATEXT + '.."(),:;<>[]\\@é', min_size=1, max_size=20),
    domain=st.sampled_from(["example.com", "b.co", "-x.org", "x..org", "ex_ample.com"]),
)
def test_an_accepted_address_is_one_plain_address_the_email_package_reads_alike(local, domain):
    """Whatever check_email accepts, a mail library reads as that same single address:
    no comment, quoted string or route that a server could take for another."""
    address = f"{local}@{domain}"
    if not _accepted(address):
        return
    assert Address(addr_spec=address).addr_spec == address
    assert not set(local) & set('"(),:;<>[]\\@é')
    assert ".." not in local and not local.startswith(".") and not local.endswith(".")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(st.sampled_from([b"a", b"bc", b"\r", b"\n", b"\r\n"]), max_size=40).map(b"".join)
)
def test_lines_are_split_at_every_kind_of_end_across_block_boundaries(monkeypatch, data):
    """Tiny blocks and a tiny line limit, against a one-regex reading of the whole input."""
    monkeypatch.setattr(subscribers_module, "_BLOCK", 3)
    monkeypatch.setattr(subscribers_module, "MAX_LINE", 5)
    expected = [
        (number, None if len(line) > 5 else line.rstrip(b"\r\n"))
        for number, line in enumerate(re.findall(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", data), 1)
    ]
    assert list(subscribers_module._numbered_lines(io.BytesIO(data))) == expected


# -- separators, international domains, topics that could never match ----------------

NAME_CHARS = string.ascii_letters + " ,;\t\"'é日"
TOPICS = ["Climate", "Energy", "Heat Pumps", "日本", "AI", "Space"]
DOMAINS = ["example.com", "bücher.de", "例え.テスト", "müller.example"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    separator=st.sampled_from([",", ";", "\t"]),
    rows=st.lists(
        st.tuples(
            st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8),
            st.sampled_from(DOMAINS),
            st.text(NAME_CHARS, max_size=15),
            st.lists(st.sampled_from(TOPICS), max_size=3, unique=True),
        ),
        min_size=1,
        max_size=8,
        unique_by=lambda r: (r[0], r[1]),
    ),
    header=st.sampled_from(["email", "Email Address", "E-mail", "email_address"]),
)
def test_any_separator_excel_or_a_tool_writes_reads_back_the_same_people(
    tmp_path, separator, rows, header
):
    """What a spreadsheet writes with its separator (quoting what holds it) reads back
    field for field, whatever the separator, the email column's name or the domain."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow([header, "name", "topics", "timezone"])
    for local, domain, name, topics in rows:
        writer.writerow([f"{local}@{domain}", name, ";".join(topics), "Europe/Paris"])
    path = tmp_path / f"people-{ord(separator)}.csv"
    path.write_text(out.getvalue(), encoding="utf-8")

    with SubscriberCSV(path) as read:
        problems = list(read.read())
        found = {s.email: s for s in read}

    assert problems == []
    assert {email: (s.name, s.topics, s.timezone) for email, s in found.items()} == {
        f"{local}@{domain}": (validate.clean_line(name), topics, "Europe/Paris")
        for local, domain, name, topics in rows
    }


INVISIBLE = ["\u200b", "\u2060", "\ufeff", "\u00ad"]


@settings(max_examples=300, deadline=None)
@given(
    topics=st.lists(
        st.one_of(
            st.sampled_from(TOPICS + list(IGNORED_WORDS)),
            st.text(string.ascii_letters + " -*.é" + "".join(INVISIBLE), max_size=12),
        ),
        max_size=6,
    )
)
def test_a_topics_field_is_refused_or_every_topic_in_it_can_match(topics):
    """Either the field is refused with a reason, or every topic kept has a letter or
    digit, is no ignored word and holds no invisible character."""
    raw = ";".join(topics)
    try:
        kept = parse_topics(raw)
    except ValueError as err:
        assert str(err).startswith(("topic ", f"{len(topics)}", "the topics"))
        return
    for topic in kept:
        assert why_never_matched(topic) is None
        assert not any(c in topic for c in INVISIBLE)


@settings(max_examples=200, deadline=None)
@given(
    topic=st.sampled_from(TOPICS),
    at=st.integers(min_value=0, max_value=20),
    invisible=st.sampled_from(INVISIBLE),
)
def test_an_invisible_character_anywhere_in_a_topic_is_refused_naming_it(topic, at, invisible):
    spoilt = topic[:at] + invisible + topic[at:]
    try:
        parse_topics(f"Space;{spoilt}")
    except ValueError as err:
        assert f"U+{ord(invisible):04X}" in str(err) or "no letter or digit" in str(err)
    else:
        raise AssertionError(f"{spoilt!r} was kept")
