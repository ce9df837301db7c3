"""Host names and IP addresses: which can be connected to, and which name this very machine.

Apart from ``validate`` because a host is not checked as text but read as a
resolver and a browser read it: IDNA labels, and IPv4 in every spelling
``inet_aton`` takes, inside IPv6 too. The answers guard connections (an SMTP
or SendGrid host that would fail deep in the socket layer after a batch was
handed over) and links (a ``public_url`` that would send every reader to their
own machine), so the rules live in one place, below every package.
"""

from __future__ import annotations

import contextlib
import ipaddress
from urllib.parse import unquote

from digest.validate import clean_line


def check_host(host: str) -> str:
    """A host name or IP address a connection can be made to, or ValueError.

    ``.``, an empty label or one over 63 characters would otherwise fail deep in
    the socket layer (``UnicodeError`` from the IDNA codec), after a batch was
    handed to the provider.
    """
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"not a host name: {clean_line(host)[:80]!r}") from None
    labels = ascii_host.rstrip(".").split(".")
    if not ascii_host or any(not 0 < len(label) <= 63 for label in labels):
        raise ValueError(f"not a host name: {clean_line(host)[:80]!r}")
    return host


# Names every machine gives itself (RFC 6761's .localhost, and Debian's /etc/hosts).
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def is_loopback(host: str) -> bool:
    """Whether a URL's ``host`` is the machine that opens it, however it is written.

    Read as a browser reads a link's host (the WHATWG URL rules, which mail
    clients hand links to): %-escapes decoded, full-width digits and dots
    mapped, a trailing dot dropped, and an IPv4 address in any of the forms
    ``inet_aton`` takes (``127.1``, ``0x7f000001``, ``2130706433``,
    ``0177.0.0.1``) or inside IPv6 (``::ffff:127.0.0.1``). ``0.0.0.0`` counts:
    connecting to it reaches this machine too.
    """
    name = unquote(host).strip().removeprefix("[").removesuffix("]")
    if ":" in name:  # IPv6, perhaps with a %zone
        try:
            address = ipaddress.IPv6Address(name.partition("%")[0])
        except ValueError:
            return False
        mapped = address.ipv4_mapped
        if mapped is not None:
            return _local_ipv4(int(mapped))
        return address.is_loopback or address.is_unspecified
    with contextlib.suppress(UnicodeError):  # a name IDNA refuses is read as it is
        name = name.encode("idna").decode("ascii")
    name = name.lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    number = ipv4_number(name)
    return number is not None and _local_ipv4(number)


def _local_ipv4(number: int) -> bool:
    return number >> 24 in (0, 127)  # 0.0.0.0/8 ("this host") and 127.0.0.0/8


_DIGITS = {8: set("01234567"), 10: set("0123456789"), 16: set("0123456789abcdef")}


def ipv4_number(host: str) -> int | None:
    """The IPv4 address ``host`` spells as a number, or None if it is a name.

    Up to four dot-separated parts, each decimal, octal (a leading ``0``) or
    hex (``0x``); the last part fills the bytes the others leave. As the WHATWG
    URL parser does, and as ``inet_aton`` does but for ``0x`` alone (0 here).
    """
    parts = host.split(".")
    if not 0 < len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        if part[:2].lower() == "0x":
            digits, base = part[2:] or "0", 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if not digits or not set(digits.lower()) <= _DIGITS[base]:
            return None
        numbers.append(int(digits, base))
    *high, last = numbers
    if any(n > 255 for n in high) or last >= 256 ** (4 - len(high)):
        return None
    return sum(n << (8 * (3 - i)) for i, n in enumerate(high)) + last
