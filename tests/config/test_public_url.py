"""public_url and from_address: what every email carries to every subscriber, so
read strictly: no credentials, a real port, one sender; and loopback caught
however it is spelled."""

from __future__ import annotations

import os
import socket
from email.utils import formataddr
from urllib.parse import urlsplit

import pytest
from conftest import POSTAL, run_digest
from hypothesis import example, given
from hypothesis import strategies as st

from digest.config.settings import Settings, load_settings
from digest.config.values import check_public_url
from digest.errors import ConfigError
from digest.hosts import ipv4_number, is_loopback
from digest.sending.preflight import link_problems
from digest.validate import parse_mailbox

LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)
NAME = st.lists(LABEL, min_size=1, max_size=4).map(".".join).filter(
    lambda h: ipv4_number(h.lower()) is None
) | st.just("bücher.example")
IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")
SCHEME = st.sampled_from(["http", "https"]).flatmap(
    lambda s: st.tuples(*[st.sampled_from([c, c.upper()]) for c in s]).map("".join)
)
PATH = st.from_regex(r"(/[A-Za-z0-9._~-]{0,12}){0,3}", fullmatch=True)
PORT = st.none() | st.integers(1, 65535)
SECRET_TEXT = st.text(
    st.characters(codec="ascii", categories=["L", "N", "P", "S"], exclude_characters="/?#@\\"),
    min_size=6,
    max_size=20,
)


def url(scheme, host, port, path, userinfo="") -> str:
    return f"{scheme}://{userinfo}{host}{'' if port is None else f':{port}'}{path}"


@given(scheme=SCHEME, host=NAME | IPV4 | IPV6, port=PORT, path=PATH)
@example(scheme="HTTPS", host="News.Example.ORG", port=None, path="/Digest")
def test_a_good_url_is_kept_with_scheme_and_host_in_lower_case(scheme, host, port, path):
    kept = check_public_url(url(scheme, host, port, path))

    assert kept == url(scheme.lower(), host.lower(), port, path)
    parts = urlsplit(kept)
    assert (parts.port, parts.path, parts.username) == (port, path, None)


@given(
    scheme=SCHEME,
    host=NAME | IPV4,
    port=PORT,
    user=SECRET_TEXT.filter(lambda t: ":" not in t),
    password=st.none() | SECRET_TEXT,
)
@example(scheme="https", host="news.example.org", port=None, user="admin", password="hunter22")
def test_a_user_or_password_in_public_url_is_refused_and_never_shown(
    scheme, host, port, user, password
):
    userinfo = user + ("" if password is None else f":{password}") + "@"

    with pytest.raises(ValueError, match="must not hold a user name or password") as refused:
        check_public_url(url(scheme, host, port, "/", userinfo))

    assert user not in str(refused.value)
    assert password is None or password not in str(refused.value)


@given(host=NAME, port=st.sampled_from([0, 65536, 99999]) | st.integers(65536, 99999))
def test_a_port_out_of_range_is_refused(host, port):
    with pytest.raises(ValueError, match="port must be from 1 to 65535"):
        check_public_url(f"https://{host}:{port}/")


@pytest.mark.parametrize(
    "bad", ["https://h:+80", "https://h: 80", "https://h:80x", "https://good.org\\@evil.example"]
)
def test_what_browsers_and_python_read_differently_is_refused(bad):
    with pytest.raises(ValueError):
        check_public_url(bad)


# -- from_address: one mailbox -------------------------------------------------------

ADDRESS = st.tuples(
    st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,10}[a-z0-9])?", fullmatch=True).filter(
        lambda t: ".." not in t
    ),
    # A domain of two to four labels, the last with a letter (so never an IPv4 number).
    st.tuples(
        st.lists(LABEL, min_size=1, max_size=3), st.from_regex(r"[a-z]{2,6}", fullmatch=True)
    ).map(lambda p: ".".join([*p[0], p[1]])),
).map(lambda p: f"{p[0]}@{p[1]}".lower())
DISPLAY = st.text(
    st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="\\"), max_size=30
).map(str.strip)


@given(name=DISPLAY, address=ADDRESS)
def test_one_named_address_is_read_whole(name, address):
    assert parse_mailbox(formataddr((name, address)))[1] == address


@given(
    first=st.tuples(DISPLAY, ADDRESS),
    second=st.tuples(DISPLAY, ADDRESS),
    between=st.sampled_from([", ", ",", ";", "; ", " ", " , "]),
)
@example(first=("", "a@x.org"), second=("", "b@y.org"), between=", ")
@example(first=("Smith", "j@x.org"), second=("", "k@y.org"), between=" ")
def test_two_addresses_are_refused_not_cut_to_the_first(first, second, between):
    value = formataddr(first) + between + formataddr(second)

    with pytest.raises(ValueError):
        parse_mailbox(value)


@pytest.mark.parametrize(
    "value",
    [
        "a@x.org, b@y.org",
        "A <a@x.org> <b@y.org>",
        "alice@x.org <bob@y.org>",
        "Smith, J <j@x.org>",
        "Team: a@x.org, b@y.org;",
        "Team: a@x.org;",
        "Name <a@x.org>garbage",
    ],
)
def test_from_address_with_more_than_one_mailbox_is_refused(value, tmp_path):
    (tmp_path / "digest.toml").write_text(f"from_address = {value!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError, match="from_address"):
        load_settings(str(tmp_path / "digest.toml"))


# -- loopback, however it is written --------------------------------------------------


def spellings(number: int) -> st.SearchStrategy[str]:
    """``number`` as an IPv4 host, in any of the forms a browser reads."""
    octets = number.to_bytes(4, "big")

    def part(value: int) -> st.SearchStrategy[str]:
        return st.sampled_from(
            [str(value), f"0{value:o}", f"0x{value:x}", f"0X{value:X}", f"00{value:o}"]
        )

    @st.composite
    def written(draw):
        keep = draw(st.integers(1, 4))  # how many parts: the last fills the rest
        high = [draw(part(o)) for o in octets[: keep - 1]]
        last = draw(part(int.from_bytes(octets[keep - 1 :], "big")))
        host = ".".join([*high, last]) + draw(st.sampled_from(["", "."]))
        return draw(
            st.sampled_from(
                [
                    host,
                    "".join(f"%{ord(c):02x}" if c.isdigit() else c for c in host),
                    "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in host),
                    f"[::ffff:{'.'.join(map(str, octets))}]",
                    f"[::ffff:{octets[0] << 8 | octets[1]:x}:{octets[2] << 8 | octets[3]:x}]",
                ]
            )
        )

    return written()


LOCAL = st.integers(127 << 24, (128 << 24) - 1) | st.integers(0, (1 << 24) - 1)
ELSEWHERE = st.integers(1 << 24, (127 << 24) - 1) | st.integers(128 << 24, (1 << 32) - 1)


@given(host=LOCAL.flatmap(spellings))
@example(host="127.1")
@example(host="0x7f000001")
@example(host="2130706433")
@example(host="[::ffff:127.0.0.1]")
@example(host="[::1]")
@example(host="localhost.")
@example(host="LocalHost")
@example(host="0")
def test_loopback_is_caught_however_it_is_written(host):
    assert is_loopback(host)
    assert any("loopback" in p for p in link_problems(Settings(public_url=f"https://{host}/")))


@given(host=ELSEWHERE.flatmap(spellings) | NAME.filter(lambda h: "localhost" not in h.lower()))
def test_no_other_host_is_called_loopback(host):
    assert not is_loopback(host)


@given(st.text("0123456789xXabcdefABCDEF.", min_size=1, max_size=24))
def test_an_ipv4_number_is_read_as_inet_aton_reads_it(text):
    parts = text.split(".")
    if any(p.lower() == "0x" for p in parts):
        return  # "0x" alone: 0 to a browser, an error to inet_aton
    try:
        expected = int.from_bytes(socket.inet_aton(text), "big")
    except OSError:
        expected = None
    assert ipv4_number(text) == expected


# -- the CLI: one line, exit 2 --------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ('public_url = "https://admin:hunter22@news.example.org"\n', "user name or password"),
        ('public_url = "https://news.example.org:99999"\n', "port must be from 1 to 65535"),
        ('from_address = "News <news@example.org>, boss@example.org"\n', "holds 2 addresses"),
    ],
)
def test_a_bad_digest_toml_exits_2_with_one_line_naming_the_setting(tmp_path, config, says):
    (tmp_path / "digest.toml").write_text(POSTAL + config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'digest.db'}"

    result = run_digest("send", "--dry-run", cwd=tmp_path, env=env)

    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    setting = config.split(" =")[0]
    assert line.startswith(f"Error: digest.toml: {setting}: ") and says in line
    assert "hunter22" not in result.stderr + result.stdout
