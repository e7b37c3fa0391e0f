"""Webhook targets (SSRF): which addresses outgoing requests may reach, whatever form the host takes.

No test here resolves a real name or opens a connection: names go through fake resolvers."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from services.common.egress import EgressPolicy, EgressRefusedError, numeric_address, refusal

PUBLIC_V4, PUBLIC_V6 = "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def dns(table: dict[str, Sequence[str]]) -> EgressPolicy:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise EgressRefusedError("the host does not resolve")
        return list(table[host])

    return EgressPolicy(allow_loopback=False, resolve=resolve)


def no_resolver(host: str, port: int) -> list[str]:
    raise AssertionError(f"numeric host {host!r} sent to the resolver")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 -- connects to this very host on Linux
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.10", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("fec0::10", "site-local"),  # deprecated (RFC 3879), internal-only where still used; ipaddress calls it global
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("192.0.2.1", "private"),  # documentation
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "metadata"),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused_by_class(address: str, reason: str) -> None:
    refused = refusal(ipaddress.ip_address(address))
    assert refused is not None and reason in refused


@pytest.mark.parametrize("address", [PUBLIC_V4, PUBLIC_V6, "8.8.8.8", f"::ffff:{PUBLIC_V4}", "2002:5db8:d70e::1"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_development_allows_loopback_and_nothing_more() -> None:
    assert refusal(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allow_loopback=True) is None
    for address in ("10.0.0.1", "169.254.169.254", "0.0.0.0", "fe80::1"):  # noqa: S104 -- refused, not bound
        assert refusal(ipaddress.ip_address(address), allow_loopback=True) is not None, address


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f.0.0.1", "127.0.0.1"),  # hexadecimal
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # short form
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("3232235777", "192.168.1.1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("[fe80::1%eth0]", "fe80::1%eth0"),
    ],
)
def test_numeric_hosts_are_read_as_the_system_reads_them(host: str, address: str) -> None:
    assert numeric_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["partner.example", "cafe", "0xcafe.example", "1.example", ""])
def test_names_are_not_numbers(host: str) -> None:
    assert numeric_address(host) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/hooks",
        "https://0177.0.0.1/hooks",
        "https://0x7f.1/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://[::ffff:a9fe:a9fe]/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/hooks",
        "https://10.0.0.8:8443/hooks",
        "https://0.0.0.0/hooks",
    ],
)
def test_numeric_targets_are_refused_without_asking_any_resolver(url: str) -> None:
    with pytest.raises(EgressRefusedError, match=r"resolves to|is not a valid URL"):  # httpx refuses 0177.0.0.1
        EgressPolicy(resolve=no_resolver).check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://partner.example/hooks?x=\x7f",
        "https://partner.example/hooks?\t",
        "https://partner.example/\r\nX: y",
        "https://a\x00b.example/",
        "https://xn--a.example/",  # not IDNA: idna raises a ValueError, not an httpx error
        "https://[::1/",
    ],
)
def test_urls_the_client_cannot_send_to_are_refused(url: str) -> None:
    with pytest.raises(EgressRefusedError, match="is not a valid URL"):
        EgressPolicy(resolve=lambda host, port: [PUBLIC_V4]).check_url(url)


def test_a_name_is_refused_when_any_of_its_addresses_is_not_public() -> None:
    policy = dns(
        {
            "hooks.partner.example": [PUBLIC_V4, PUBLIC_V6],
            "mixed.example": [PUBLIC_V4, "10.0.0.7"],
            "internal.example": ["192.168.4.4"],
            "metadata.google.internal": ["169.254.169.254"],
            "scoped.example": ["fe80::1%2"],
            "mapped.example": ["::ffff:127.0.0.1"],
            "localtest.me": ["127.0.0.1"],
        }
    )
    assert policy.check_url("https://hooks.partner.example/rls") == [
        ipaddress.ip_address(PUBLIC_V4),
        ipaddress.ip_address(PUBLIC_V6),
    ]
    for host, reason in [
        ("mixed.example", "private"),
        ("internal.example", "private"),
        ("metadata.google.internal", "metadata"),
        ("scoped.example", "link-local"),
        ("mapped.example", "loopback"),
        ("localtest.me", "loopback"),
        ("unknown.example", "does not resolve"),
    ]:
        with pytest.raises(EgressRefusedError, match=reason):
            policy.check_url(f"https://{host}/rls")


def test_production_requires_https_development_allows_http_to_loopback_only() -> None:
    production = dns({"hooks.partner.example": [PUBLIC_V4]})
    with pytest.raises(EgressRefusedError, match="https"):
        production.check_url("http://hooks.partner.example/rls")
    with pytest.raises(EgressRefusedError):
        production.check_url("http://127.0.0.1:9000/rls")
    development = EgressPolicy(allow_loopback=True, resolve=lambda host, port: ["127.0.0.1", "::1"])
    assert development.check_url("http://127.0.0.1:9000/rls")
    assert development.check_url("http://[::1]:9000/rls")
    assert development.check_url("http://localhost:9000/rls")
    with pytest.raises(EgressRefusedError, match="https"):
        EgressPolicy(allow_loopback=True, resolve=lambda host, port: [PUBLIC_V4]).check_url("http://partner.example/")
