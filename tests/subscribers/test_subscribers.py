"""Subscribers CSV: good rows kept, each bad line named by file and line, nothing swallowed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr
from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.subscribers.csv_import import MAX_LINE, SubscriberCSV, import_csv, parse_subscriber

HEADER = "email,name,topics,timezone"


def write_csv(path: Path, *rows: str, header: str = HEADER, newline: str = "\n") -> Path:
    path.write_bytes(newline.join([header, *rows, ""]).encode("utf-8"))
    return path


def read(path: Path):
    """(problems as "LINE: message", warnings likewise, subscribers by email) of one file."""
    with SubscriberCSV(path) as rows:
        notes = list(rows.read())
        subscribers = {s.email: s for s in rows}
    errors = [f"{line}: {message}" for line, is_error, message in notes if is_error]
    warnings = [f"{line}: {message}" for line, is_error, message in notes if not is_error]
    return errors, warnings, subscribers


def lines(errors: list[str]) -> list[int]:
    return [int(e.split(":", 1)[0]) for e in errors]


# -- what a good row becomes --------------------------------------------------


def test_fields_topics_and_timezone(tmp_path):
    path = write_csv(
        tmp_path / "subs.csv",
        "ana@example.com,Ana Silva,Space;Climate ; Local  Politics,Europe/Lisbon",
        "bo@example.org,Bo,,",
        "cy@example.net,,Energy,America/New_York",
    )
    errors, warnings, subs = read(path)
    assert errors == warnings == []
    assert sorted(subs) == ["ana@example.com", "bo@example.org", "cy@example.net"]
    ana = subs["ana@example.com"]
    assert (ana.name, ana.timezone) == ("Ana Silva", "Europe/Lisbon")
    assert ana.topics == ["Space", "Climate", "Local Politics"]
    assert subs["bo@example.org"].topics == []  # empty: everything
    assert subs["bo@example.org"].timezone is None  # empty: the configured default
    assert subs["cy@example.net"].name == ""


def test_columns_in_any_order_others_ignored_missing_ones_empty(tmp_path):
    path = write_csv(
        tmp_path / "export.csv",
        "Space,ana@example.com,ACME,Ana",
        header="Topics,EMAIL,company,Name",
    )
    errors, _, subs = read(path)
    assert errors == []
    ana = subs["ana@example.com"]
    assert (ana.name, ana.topics, ana.timezone) == ("Ana", ["Space"], None)


def test_bom_crlf_and_quoted_fields(tmp_path):
    path = tmp_path / "excel.csv"
    text = (
        "Email,Name,Topics,Timezone\r\n"
        '"dee@example.com","Doe, Dee ""DJ""","Space;Science, Policy",Europe/Paris\r\n'
        "eve@example.com,Eve,,\r\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    errors, _, subs = read(path)
    assert errors == []
    dee = subs["dee@example.com"]  # not "\ufeffemail" mangling the first column
    assert dee.name == 'Doe, Dee "DJ"'
    assert dee.topics == ["Space", "Science, Policy"]
    assert dee.timezone == "Europe/Paris"
    assert "\r" not in subs["eve@example.com"].name


def test_old_mac_line_ends_are_lines_too(tmp_path):
    path = write_csv(
        tmp_path / "mac.csv", "a@example.com,A,,", "x,B,,", "c@example.com,C,,", newline="\r"
    )
    errors, _, subs = read(path)
    assert lines(errors) == [3]
    assert sorted(subs) == ["a@example.com", "c@example.com"]


def test_cp1252_names(tmp_path):
    path = tmp_path / "ansi.csv"
    path.write_bytes(f"{HEADER}\nzoe@example.com,Zoë Müller,,\n".encode("cp1252"))
    assert read(path)[2]["zoe@example.com"].name == "Zoë Müller"


def test_blank_lines_are_passed_over_and_still_counted(tmp_path):
    path = write_csv(tmp_path / "gaps.csv", "", "a@example.com,A,,", "   ", "broken,B,,")
    errors, _, subs = read(path)
    assert list(subs) == ["a@example.com"]
    assert lines(errors) == [5]


# -- what the file as a whole must be -----------------------------------------


def test_missing_email_column_is_a_config_error_naming_the_file(tmp_path):
    path = write_csv(tmp_path / "wrong.csv", "ana@example.com,Ana", header="address,name")
    with pytest.raises(ConfigError) as caught:
        SubscriberCSV(path)
    assert str(path) in str(caught.value)
    assert "email" in str(caught.value)


def test_topics_that_could_never_match_are_refused_with_why(tmp_path):
    """An ignored word or an invisible character would give an edition that stays empty
    (or without that topic) and nobody would know why: the line is refused instead."""
    path = write_csv(
        tmp_path / "topics.csv",
        "a@example.com,A,Climate;Uncategorized,",
        "b@example.com,B,Top Stories,",
        "c@example.com,C,Space;Ener\u00adgy,",
        "d@example.com,D,Climate;Video games,",
    )
    errors, _, subs = read(path)
    assert errors == [
        "2: topic 'Uncategorized' is a word feeds file everything under, which digest "
        "ignores: it never matches",
        "3: topic 'Top Stories' is a word feeds file everything under, which digest ignores: "
        "it never matches",
        "4: topic 'Ener\\xadgy' holds an invisible character (U+00AD): it would never match "
        "the word as articles spell it",
    ]
    assert subs["d@example.com"].topics == ["Climate", "Video games"]


def test_a_semicolon_separated_excel_export_is_read(tmp_path):
    """Excel writes ";" where the decimal comma is usual, and quotes a value that holds one."""
    path = write_csv(
        tmp_path / "excel-fr.csv",
        'ana@example.com;"Silva, Ana";"Climate;Energy";Europe/Lisbon',
        "bo@example.org;Bo;;",
        "cy@example.net;Cy;Space;UTC;extra",
        header="email;name;topics;timezone",
        newline="\r\n",
    )
    errors, _, subs = read(path)
    assert errors == [
        "4: 5 fields, but the header has 4 (a semicolon in an unquoted value? "
        "put the value in double quotes)"
    ]
    ana = subs["ana@example.com"]
    assert (ana.name, ana.topics, ana.timezone) == (
        "Silva, Ana",
        ["Climate", "Energy"],
        "Europe/Lisbon",
    )
    assert subs["bo@example.org"].topics == []


def test_a_tab_separated_file_is_read(tmp_path):
    path = write_csv(
        tmp_path / "people.tsv", "ana@example.com\tAna, S.\tClimate", header="email\tname\ttopics"
    )
    errors, _, subs = read(path)
    assert errors == []
    assert (subs["ana@example.com"].name, subs["ana@example.com"].topics) == (
        "Ana, S.",
        ["Climate"],
    )


def test_a_mailchimp_export_is_read_by_its_own_headers(tmp_path):
    path = write_csv(
        tmp_path / "members.csv",
        "ana@example.com,Ana,Silva,2026-01-02 10:00:00",
        header="Email Address,First Name,Last Name,OPTIN_TIME",
    )
    errors, _, subs = read(path)
    assert errors == []
    assert subs["ana@example.com"].first_name == "Ana"


def test_an_address_at_an_internationalised_domain_is_kept_as_given(tmp_path):
    path = write_csv(
        tmp_path / "idn.csv",
        "ana@bücher.de,Ana,,",
        "ANA@xn--bcher-kva.de,Same mailbox,,",  # the same address in its IDNA form
        "zw@b\u200bank.de,Hidden,,",  # a zero-width space: mailed as "bank.de"
        "ß@example.org,Local,,",  # SMTPUTF8 would be needed
        "st@straße.de,Mapped,,",  # IDNA 2003 makes it strasse.de: another domain
    )
    errors, _, subs = read(path)
    assert list(subs) == ["ana@bücher.de"]
    assert errors == [
        "3: duplicate email ANA@xn--bcher-kva.de (first on line 2)",
        "4: not a valid email address: 'zw@b\\u200bank.de' (its domain does not have an IDNA "
        "form of its own)",
        "5: not a valid email address: 'ß@example.org'",
        "6: not a valid email address: 'st@straße.de' (its domain does not have an IDNA form "
        "of its own)",
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        ("email,name\nana@example.com,Ana\n".encode("utf-16"), "UTF-16"),
        (b"PK\x03\x04\x14\x00\x06\x00email", "not a text file"),
        (b"email," + b"x" * (MAX_LINE + 10), "first line longer"),
        (b"email,name,Email\n", "appears twice"),
    ],
)
def test_a_file_that_cannot_be_a_subscribers_csv_is_refused_whole(tmp_path, content, reason):
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=reason):
        SubscriberCSV(path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_stream_without_line_ends_is_refused_at_once():
    with pytest.raises(ConfigError, match="first line longer"):
        SubscriberCSV(Path("/dev/zero"))


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nope"):
        SubscriberCSV(tmp_path / "nope.csv")


# -- bad lines: each named, none taking another with it ------------------------


def test_an_unterminated_quote_costs_one_line_not_the_rest_of_the_file(tmp_path):
    good = [f"reader{i}@example.com,Reader {i},," for i in range(1000)]
    path = write_csv(tmp_path / "quote.csv", 'first@example.com,"Smith, J,,', *good)
    errors, _, subs = read(path)
    assert len(errors) == 1
    assert errors[0].startswith("2: a quoted value does not end on this line")
    assert len(subs) == 1000
    assert "first@example.com" not in subs


def test_the_row_after_an_unterminated_quote_is_its_own_subscriber(tmp_path):
    path = write_csv(
        tmp_path / "two.csv", 'first@example.com,"Smith, J,,', "second@example.com,Ann,,"
    )
    errors, _, subs = read(path)
    assert lines(errors) == [2]
    assert list(subs) == ["second@example.com"]
    assert subs["second@example.com"].name == "Ann"


def test_bad_rows_are_named_by_line_in_order_and_good_rows_kept(tmp_path):
    path = write_csv(
        tmp_path / "mixed.csv",
        "ok1@example.com,One,,",  # line 2
        "not-an-address,Two,,",  # line 3
        "ok2@example.com,Three,,Mars/Olympus_Mons",  # line 4
        '"multi@example.com","Line one',  # lines 5-6: a quoted value over two lines
        'line two",,',
        "OK1@Example.COM,Dup,,",  # line 7: same address as line 2
        "two@@example.com,Bad,,",  # line 8
        ",No address,,",  # line 9
        'ok3@example.com,"Four"x,Space,UTC',  # line 10
        "ok4@example.com,Five,Space,UTC",  # line 11
    )
    errors, _, subs = read(path)
    assert sorted(subs) == ["ok1@example.com", "ok4@example.com"]
    assert subs["ok1@example.com"].name == "One"  # the first of a repeated address wins
    assert lines(errors) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "not-an-address" in errors[0]
    assert "Mars/Olympus_Mons" in errors[1]
    assert "does not end on this line" in errors[2]
    assert errors[4] == "7: duplicate email OK1@Example.COM (first on line 2)"
    assert "email is empty" in errors[6]
    assert "after a closing quote" in errors[7]


@pytest.mark.parametrize(
    "address",
    [
        "plain",
        "no-domain@",
        "@no-local.example.com",
        "space in@example.com",
        "dotless@localhost",
        "a@b@example.com",
        "trailing-dot@example.com.",
        "ünïcode@example.com",
        "[@example.com",  # the email package raised HeaderParseError, not ValueError
        "a(b@example.com",
        "a" * 64 + "x@example.com",  # local part over 64 characters
        "user@" + "d" * 300 + ".example.com",  # the 371-character case: over 254
    ],
)
def test_invalid_addresses_are_rejected(tmp_path, address):
    path = write_csv(tmp_path / "one.csv", f'"{address}",X,,', "good@example.com,Good,,")
    errors, _, subs = read(path)
    assert list(subs) == ["good@example.com"]
    assert lines(errors) == [2]


@pytest.mark.parametrize(
    "zone", ["America", "Europe", "Etc", "Mars/Base", "../../etc/passwd", "europe/london"]
)
def test_a_folder_of_the_tz_database_is_an_unknown_timezone_not_a_crash(tmp_path, zone):
    path = write_csv(
        tmp_path / "tz.csv", f"a@example.com,A,,{zone}", "b@example.com,B,,Europe/London"
    )
    errors, _, subs = read(path)
    assert lines(errors) == [2]
    assert "unknown timezone" in errors[0]
    assert list(subs) == ["b@example.com"]


@pytest.mark.parametrize(
    ("zone", "reason"),
    [
        ("localtime", "timezone 'localtime' is this machine's own setting, not a place"),
        ("Factory", "timezone 'Factory' is the tz database's placeholder for a zone not set"),
        ("posixrules", "timezone 'posixrules' is the tz database's template for POSIX rules"),
        ("LOCALTIME", "unknown timezone 'LOCALTIME' (use an IANA name such as Europe/London)"),
    ],
)
def test_a_zone_name_that_is_no_place_is_refused_with_why(tmp_path, zone, reason):
    """``localtime`` is in the tz list where a distribution links it, and means another zone
    on every host (and none on the next): it would stop a send elsewhere."""
    path = write_csv(
        tmp_path / "tz.csv", f"a@example.com,A,,{zone}", "b@example.com,B,,Europe/London"
    )
    errors, _, subs = read(path)
    assert lines(errors) == [2]
    assert reason in errors[0] and "did you mean" not in errors[0]
    assert list(subs) == ["b@example.com"]


def test_extra_fields_are_an_error_for_that_row_but_trailing_empty_ones_are_not(tmp_path):
    path = write_csv(
        tmp_path / "extra.csv",
        "a@example.com,Smith, John,,UTC",
        "b@example.com,B,,,,",
        "c@example.com",
    )
    errors, _, subs = read(path)
    assert sorted(subs) == ["b@example.com", "c@example.com"]
    assert lines(errors) == [2]
    assert "5 fields, but the header has 4" in errors[0]


def test_a_second_header_line_says_so(tmp_path):
    path = write_csv(tmp_path / "joined.csv", "a@example.com,A,,", HEADER, "b@example.com,B,,")
    errors, _, subs = read(path)
    assert errors == ["3: a second header line (were two files joined?)"]
    assert len(subs) == 2


def test_an_overlong_line_is_named_and_the_next_ones_read(tmp_path):
    huge = "c@example.com," + "N" * (3 * MAX_LINE) + ",,"
    path = write_csv(tmp_path / "huge.csv", "a@example.com,A,,", huge, "b@example.com,B,,")
    errors, _, subs = read(path)
    assert lines(errors) == [3]
    assert "longer than" in errors[0]
    assert sorted(subs) == ["a@example.com", "b@example.com"]


# -- values cleaned and capped at the edge ------------------------------------


def test_control_characters_escapes_and_bidi_overrides_are_removed_from_every_field(tmp_path):
    path = write_csv(
        tmp_path / "ansi.csv",
        "\x00ann@example.com,\x1b[31mAnn\x1b[0m \u202eevil,\x1b[1mSpace\x1b[0m;Cli\x00mate,\x07UTC",
    )
    errors, _, subs = read(path)
    assert errors == []
    ann = subs["ann@example.com"]
    for value in (ann.email, ann.name, *ann.topics, ann.timezone):
        assert not re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", value)
    assert ann.name == "Ann evil"  # the whole escape sequence, not just its ESC
    assert ann.topics == ["Space", "Climate"]
    assert ann.timezone == "UTC"


def test_name_with_line_breaks_cannot_inject_a_header():
    mallory = parse_subscriber(
        "mallory@example.com", "Mallory\r\nBcc: victim@example.org\rX\x00Y\tZ"
    )
    assert mallory.name == "Mallory Bcc: victim@example.org XY Z"  # NUL removed, not spaced
    message = EmailMessage(policy=SMTP)
    message["To"] = formataddr((mallory.name, mallory.email))
    message["Subject"] = "digest"
    headers = message.as_string().split("\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith("bcc:") for line in headers.split("\r\n"))


def test_a_long_name_is_shortened_with_a_warning_and_the_row_kept(tmp_path):
    path = write_csv(tmp_path / "long.csv", "a@example.com," + "Word " * 100 + ",,")
    errors, warnings, subs = read(path)
    assert errors == []
    assert warnings == ["2: name longer than 200 characters, shortened"]
    assert len(subs["a@example.com"].name) <= 200
    assert subs["a@example.com"].name.endswith("…")


def test_topics_are_capped_in_length_and_number_and_repeats_dropped(tmp_path):
    many = ";".join(f"T{i}" for i in range(51))
    path = write_csv(
        tmp_path / "topics.csv",
        "long@example.com,L," + "x" * 101 + ",",
        f"many@example.com,M,{many},",
        "fifty@example.com,F," + ";".join(f"T{i}" for i in range(50)) + ",",
        "rep@example.com,R,Space;SPACE; space ;Ｓｐａｃｅ;Climate,",
    )
    errors, _, subs = read(path)
    assert lines(errors) == [2, 3]
    assert "topic longer than 100 characters" in errors[0]
    assert "51 topics; at most 50" in errors[1]
    assert len(subs["fifty@example.com"].topics) == 50
    assert subs["rep@example.com"].topics == ["Space", "Climate"]


def test_a_topic_with_no_letter_or_digit_is_refused_with_its_line_and_the_rest_kept(tmp_path):
    path = write_csv(
        tmp_path / "stars.csv",
        "star@example.com,S,Aleppo;*,",
        "code@example.com,C,C++;.NET;F#,",
    )
    errors, _, subs = read(path)
    assert lines(errors) == [2]
    assert "topic '*' has no letter or digit" in errors[0]
    assert subs["code@example.com"].topics == ["C++", ".NET", "F#"]


# -- into the store ------------------------------------------------------------


def import_file(store, path: Path):
    errors, warnings = [], []
    result = import_csv(path, store, errors.append, warnings.append)
    return result, [str(e) for e in errors], warnings


def test_import_counts_add_up_and_a_reimport_updates(tmp_path, store):
    path = write_csv(
        tmp_path / "s.csv", "Ana@Example.com,Ana,Space,", "bo@example.org,Bo,,", "bad,X,,"
    )
    result, errors, _ = import_file(store, path)
    assert (result.added, result.updated, result.rejected) == (2, 0, 1)
    assert errors == [f"{path}:4: not a valid email address: 'bad'"]
    path = write_csv(
        tmp_path / "s.csv", "ana@example.COM,Ana Silva,Climate;Energy,UTC", "cy@example.net,Cy,,"
    )
    result, errors, _ = import_file(store, path)
    assert (result.added, result.updated, result.rejected) == (1, 1, 0)
    ana = store.find_subscriber("ANA@EXAMPLE.COM")
    assert (ana.email, ana.name, ana.topics, ana.timezone) == (
        "ana@example.COM",
        "Ana Silva",
        ["Climate", "Energy"],
        "UTC",
    )
    assert len(list(store.list_subscribers())) == 3


def test_a_reimport_keeps_unsubscribed_people_unsubscribed(tmp_path, store):
    path = write_csv(tmp_path / "s.csv", "ana@example.com,Ana,,", "bo@example.org,Bo,,")
    import_file(store, path)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE subscribers SET active = false WHERE email_key = 'bo@example.org'"
        )
    path = write_csv(tmp_path / "s.csv", "ana@example.com,Ana,,", "BO@example.org,Bo B.,,")
    result, _, _ = import_file(store, path)
    assert (result.added, result.updated, result.unchanged) == (0, 1, 1)
    assert [s.email for s in store.list_subscribers()] == ["ana@example.com"]
    assert store.find_subscriber("bo@example.org").name == "Bo B."  # updated, still unsubscribed
    result = import_csv(path, store, print, print, resubscribe=True)
    assert len(list(store.list_subscribers())) == 2


def test_a_timezone_in_the_wrong_case_is_refused_with_the_right_spelling(tmp_path):
    path = write_csv(tmp_path / "tz.csv", "a@example.com,A,,europe/london")
    errors, _, subs = read(path)
    assert subs == {}
    assert errors == [
        "2: unknown timezone 'europe/london' (use an IANA name such as Europe/London); "
        "did you mean 'Europe/London'?"
    ]


def test_an_unsubscribed_at_column_is_read_and_a_bad_date_named(tmp_path):
    path = write_csv(
        tmp_path / "all.csv",
        "ana@example.com,Ana,,,2026-11-20T08:15:30.5Z",
        "bo@example.org,Bo,,,",
        "cy@example.net,Cy,,,2026-11-20 09:00",  # no offset: UTC
        "dee@example.com,Dee,,,2026-11-20T10:00:00+02:00",
        "eve@example.com,Eve,,,yesterday",
        "fay@example.com,Fay,,,0001-01-01T00:00:00+05:00",  # before the first UTC instant
        header="email,name,topics,timezone,unsubscribed_at",
    )
    errors, _, subs = read(path)
    assert errors == [
        "6: unsubscribed_at: not a date and time such as 2026-11-24T07:30:00Z: 'yesterday'",
        "7: unsubscribed_at: not a date and time such as 2026-11-24T07:30:00Z: "
        "'0001-01-01T00:00:00+05:00'",
    ]
    assert {email: s.unsubscribed_at for email, s in subs.items()} == {
        "ana@example.com": datetime(2026, 11, 20, 8, 15, 30, 500000, tzinfo=UTC),
        "bo@example.org": None,
        "cy@example.net": datetime(2026, 11, 20, 9, tzinfo=UTC),
        "dee@example.com": datetime(2026, 11, 20, 8, tzinfo=UTC),
    }


def test_a_second_mailchimp_header_line_says_so_too(tmp_path):
    header = "Email Address;First Name"
    path = write_csv(
        tmp_path / "joined.csv", "a@example.com;A", header, "b@example.com;B", header=header
    )
    errors, _, subs = read(path)
    assert errors == ["3: a second header line (were two files joined?)"]
    assert sorted(subs) == ["a@example.com", "b@example.com"]
