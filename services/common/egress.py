"""Outgoing HTTP to addresses partners give us (webhooks), without becoming a way into our own network (SSRF).

A target is refused when its host is, or resolves to, a loopback, private, link-local, cloud-metadata, multicast,
reserved or otherwise non-public address; IPv4 hidden in IPv6 (mapped `::ffff:a.b.c.d`, 6to4, NAT64) is unwrapped
first, and numeric hosts are read as the system's resolver reads them (`2130706433`, `0177.0.0.1`, `0x7f.1` are
all 127.0.0.1). The check runs when a URL is registered *and* when each connection is opened: the connection goes
to the very address that was checked, so a DNS answer that changes in between (DNS rebinding) gains nothing.
Development may allow loopback targets (local test receivers). Redirects are never followed, proxies from the
environment never used. Each request ends within its deadline, connection, sending and answer included (httpx's
timeouts bound each socket operation: a receiver sending a byte a second would hold a request for ever; name
resolution takes no timeout, so it runs on a few threads of its own, waited for until the deadline), and a name is
connected to at most `MAX_CONNECT_ADDRESSES` of its addresses. A client serves many tenants (organisations): the
requests made `for_tenant(...)` share its lookup threads, one tenant at most `MAX_RESOLVING_PER_TENANT` of them
(its lookups past their deadline included), and the tenants whose lookups went past their deadline lately never the
last `MAX_RESOLVING_RESERVE` (`services.common.shares`), so no tenant, and no number of tenants whose name servers stop
answering, holds them all. A request waiting for a lookup thread waits for the lookups under way, not for its target:
`for_tenant` tells its caller how long (`Tenant.queued`), so that no target is judged slow for the others' doing.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
import ssl
import string
import threading
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import httpcore
import httpx

from services.common.shares import Shares

T = typing.TypeVar("T")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""host, port → the addresses a connection may use (strings, as `getaddrinfo` gives them)."""

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure, GCP, OpenStack, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_HOST = set(string.hexdigits + "xX.")
MAX_CONNECT_ADDRESSES = 3
"""Addresses of one name a connection tries, each refused one after the other (all of them are vetted)."""
MAX_RESOLVING = 8
"""Names one client resolves at once (as many as the delivery worker's default concurrency). A lookup cannot be
interrupted: past its request's deadline it goes on in its thread until the resolver gives up, so the threads are few
and shared, and a lookup still queued then is dropped."""
MAX_RESOLVING_PER_TENANT = 2
"""Lookups one tenant may have under way at once, those past their deadline included (fewer than `MAX_RESOLVING`: the
rest stay for the other tenants). A request of a tenant at its share (or kept out of the reserve) waits for a lookup
to end, within its deadline; then `EgressBusyError`."""
MAX_RESOLVING_RESERVE = 2
"""Lookup threads only a tenant with none under way and no lookup past its deadline lately may take
(`services.common.shares.Shares`): the tenants whose name servers stopped answering hold the others, no more."""

_TENANT: ContextVar[Tenant | None] = ContextVar("egress_tenant", default=None)
"""Whose share of the lookups the current thread's requests use (None: no tenant's, only the client's threads)."""
_DEADLINE: ContextVar[float] = ContextVar("egress_deadline", default=math.inf)
"""When the request the current thread is making must end (`time.monotonic()`): httpx's sync I/O runs in the
caller's thread, so the streams of a pooled connection read the deadline of the request they serve."""


class EgressRefusedError(httpx.TransportError):
    """The target is not a public address (or not https where https is required, or not a URL at all). The message
    names the address class, not the address."""


class EgressBusyError(httpx.TransportError):
    """No name lookup thread was the tenant's to take until the request's deadline (its share held by its earlier
    lookups, its name server not answering them, or the threads it may take by other tenants' lookups): nothing was
    sent, the target has not failed; try again later."""


@dataclass
class Tenant:
    """Whose share of the lookup threads requests take (`name`), and how long they waited for one (`queued`,
    seconds): the time the lookups under way held them (other tenants', or the tenant's own earlier ones), which is
    not the time of the requests' targets."""

    name: str
    queued: float = 0.0


@contextmanager
def for_tenant(tenant: str) -> Iterator[Tenant]:
    """The requests this thread makes in the block resolve their names within `tenant`'s share of the lookups; the
    `Tenant` yielded tells, once they are done, how long they waited for a lookup thread."""
    requests = Tenant(tenant)
    token = _TENANT.set(requests)
    try:
        yield requests
    finally:
        _TENANT.reset(token)


class Lookups:
    """Name resolutions (which take no timeout) on `threads` threads of their own, each waited for until a timeout;
    a tenant has at most `per_tenant` of them under way, those left running past their timeout included, and the last
    `reserve` threads stay for tenants with none under way whose lookups ended within their timeout lately."""

    def __init__(
        self,
        threads: int = MAX_RESOLVING,
        per_tenant: int = MAX_RESOLVING_PER_TENANT,
        reserve: int = MAX_RESOLVING_RESERVE,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="egress-resolve")
        self._shares = Shares(threads, per_tenant, reserve)
        self._under_way: dict[str, int] = {}
        self._changed = threading.Condition()

    def run(self, lookup: Callable[[], T], timeout: float | None, tenant: Tenant | None = None) -> T:
        """`lookup()`'s answer within `timeout` seconds (None: no limit), else `TimeoutError` (a lookup still queued
        is dropped, one running ends in its thread, and its tenant counts as slow); `EgressBusyError` when no thread
        is the tenant's to take for as long (`Shares.admits`). The wait for a thread is added to `tenant.queued`."""
        ends = math.inf if timeout is None else time.monotonic() + timeout
        self._claim(tenant, ends)
        try:
            running = self._pool.submit(self._counted, lookup, tenant)
        except RuntimeError:  # closed
            self._release(tenant)
            raise
        left = ends - time.monotonic()
        try:
            return running.result(None if left == math.inf else max(left, 0.0))
        except TimeoutError:
            if running.cancel():  # never started: its share is free again now
                self._release(tenant)
            elif tenant is not None and not running.done():  # past its deadline, it holds its thread on
                with self._changed:
                    self._shares.slowed(tenant.name)
            raise

    def _counted(self, lookup: Callable[[], T], tenant: Tenant | None) -> T:
        try:
            return lookup()
        finally:
            self._release(tenant)

    def _claim(self, tenant: Tenant | None, ends: float) -> None:
        if tenant is None:
            return
        asked = time.monotonic()
        try:
            with self._changed:
                while not self._shares.admits(tenant.name, self._under_way):
                    left = ends - time.monotonic()
                    if left <= 0:
                        raise EgressBusyError("no name lookup thread was free for the tenant")
                    self._changed.wait(None if left == math.inf else left)
                self._under_way[tenant.name] = self._under_way.get(tenant.name, 0) + 1
        finally:
            tenant.queued += time.monotonic() - asked

    def _release(self, tenant: Tenant | None) -> None:
        if tenant is None:
            return
        with self._changed:
            count = self._under_way.pop(tenant.name) - 1
            if count:
                self._under_way[tenant.name] = count
            self._changed.notify_all()

    def close(self) -> None:
        """Starts no other lookup; one under way ends in its thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (DNS, /etc/hosts)."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise EgressRefusedError("the host does not resolve") from None
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def numeric_address(host: str) -> IPAddress | None:
    """The address a numeric host stands for, in any form `inet_aton` accepts; None for a name."""
    literal = host.strip("[]")
    try:
        return ipaddress.ip_address(literal)
    except ValueError:
        pass
    if literal and set(literal) <= _NUMERIC_HOST and literal[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(literal))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress, allow_loopback: bool = False) -> str | None:
    """Why a connection to this address is refused (None: it is a public address, or an allowed loopback)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return refusal(embedded, allow_loopback)
    reasons = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, None if allow_loopback else "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (getattr(address, "is_site_local", False), "a site-local address"),  # fec0::/10: ipaddress calls it global
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "a non-public address"),
    )
    return next((reason for applies, reason in reasons if applies), None)


@dataclass(frozen=True)
class EgressPolicy:
    """Where outgoing requests may go: public addresses over https (plus loopback, over http too, when allowed)."""

    allow_loopback: bool = False
    resolve: Resolver = field(default=system_resolver)

    def check_url(self, url: str) -> list[IPAddress]:
        """A URL the client can send to (read by httpx, as the client reads it), https (or http to a loopback host
        where allowed), and a host whose every address may be reached."""
        try:
            parsed = httpx.URL(url)
            self.check_scheme(parsed.scheme, parsed.host)  # as `EgressTransport` does before each request
        except (httpx.InvalidURL, ValueError):  # `host` decodes IDNA: a bad label raises idna's (Value)errors
            raise EgressRefusedError("is not a valid URL") from None
        return self.vet(parsed.raw_host.decode("ascii"), parsed.port or (443 if parsed.scheme == "https" else 80))

    def check_scheme(self, scheme: str, host: str) -> None:
        if scheme != "https" and not (self.allow_loopback and _loopback_name(host)):
            raise EgressRefusedError("must use https")

    def vet(self, host: str, port: int) -> list[IPAddress]:
        """The host's addresses, all of them allowed (one refused address refuses the host)."""
        numeric = numeric_address(host)
        addresses = [numeric] if numeric is not None else [_parse(a) for a in self.resolve(host, port)]
        if not addresses:
            raise EgressRefusedError("the host does not resolve")
        for address in addresses:
            reason = refusal(address, self.allow_loopback)
            if reason is not None:
                raise EgressRefusedError(f"the host is or resolves to {reason}")
        return addresses


def _parse(answer: str) -> IPAddress:
    return ipaddress.ip_address(answer.split("%", 1)[0])  # a scope id ("fe80::1%eth0") does not change the class


@contextmanager
def _until(deadline: float) -> Iterator[None]:
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _within_deadline(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """A socket operation's timeout, shortened to what is left of the request's deadline (`expired` once passed)."""
    left = _DEADLINE.get() - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed")
    bounded = min(math.inf if timeout is None else timeout, left)
    return None if bounded == math.inf else bounded


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the deadline of the request it serves."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _DeadlineBody(httpx.SyncByteStream):
    """A response body read under its request's deadline (it is read after `handle_request` returned)."""

    def __init__(self, stream: httpx.SyncByteStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        parts = iter(self._stream)
        while True:
            with _until(self._deadline):
                part = next(parts, None)
            if part is None:
                return
            yield part

    def close(self) -> None:
        self._stream.close()


class _VettedBackend(httpcore.SyncBackend):
    """Opens TCP connections only to addresses the policy allows, and to exactly those it checked."""

    def __init__(self, policy: EgressPolicy, lookups: Lookups) -> None:
        self._policy = policy
        self._lookups = lookups

    def _vet(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        """The policy's vetting, its name resolution included, within the connect timeout and the request's deadline
        (`getaddrinfo` takes no timeout: a name server that does not answer would hold the request for its own), in
        the tenant's share of the lookups."""
        bounded = _within_deadline(timeout, httpcore.ConnectTimeout)
        try:
            return self._lookups.run(lambda: self._policy.vet(host, port), bounded, _TENANT.get())
        except TimeoutError:
            raise httpcore.ConnectTimeout("the host did not resolve within the request's deadline") from None

    def close(self) -> None:
        self._lookups.close()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | None = None
        for address in self._vet(host, port, timeout)[:MAX_CONNECT_ADDRESSES]:
            bounded = _within_deadline(timeout, httpcore.ConnectTimeout)
            try:
                stream = super().connect_tcp(str(address), port, bounded, local_address, socket_options)
            except httpcore.ConnectError as error:
                failure = error
                continue
            return _DeadlineStream(stream)
        assert failure is not None  # vet() returns at least one address
        raise failure


class EgressTransport(httpx.HTTPTransport):
    """httpx's transport with every request's scheme checked, every connection vetted (TLS still verifies the
    certificate against the URL's host name) and every request, its answer included, ended by `deadline` seconds."""

    def __init__(self, policy: EgressPolicy, deadline: float, lookups: Lookups | None = None) -> None:
        super().__init__(trust_env=False)
        self._policy = policy
        self._deadline = deadline
        self._backend = _VettedBackend(policy, lookups or Lookups())
        # httpx 0.28 builds its pool without a way to choose the network backend: swap in one that vets addresses
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=self._backend
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._policy.check_scheme(request.url.scheme, request.url.host)
        deadline = time.monotonic() + self._deadline
        with _until(deadline):
            response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)  # httpx's own transport answers with one
        response.stream = _DeadlineBody(response.stream, deadline)
        return response

    def close(self) -> None:
        super().close()
        self._backend.close()


def _loopback_name(host: str) -> bool:
    address = numeric_address(host)
    return host == "localhost" if address is None else address.is_loopback


def egress_client(policy: EgressPolicy, timeout: float, lookups: Lookups | None = None) -> httpx.Client:
    """An httpx client that only reaches what the policy allows, never follows redirects, ignores proxy variables;
    `timeout` bounds each request as a whole (connection, sending, answer), not only each socket operation; names are
    resolved on `lookups` (default: `MAX_RESOLVING` threads, `MAX_RESOLVING_PER_TENANT` per tenant), closed with it.
    httpx logs every request's full URL at INFO, and a partner's URL may carry its token (`?token=`): kept out."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return httpx.Client(
        transport=EgressTransport(policy, timeout, lookups), timeout=timeout, follow_redirects=False, trust_env=False
    )
