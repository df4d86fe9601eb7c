"""Fetch product images from user-listed hosts for bulk ingestion, with one result (bytes or reason) per URL.

Requests go only to hosts in the policy's allowlist and, unless allowed, never to loopback, private,
link-local or other internal addresses; every redirect hop is checked again. Bodies are capped while
streaming and sniffed by their magic bytes (the Content-Type header is not trusted). Transient failures
(connection errors, timeouts, HTTP 429 and 5xx) are retried with jittered exponential backoff.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from shoplens.catalog.fetch_addresses import ip_literal, is_public, normalise_host
from shoplens.errors import ShopLensError
from shoplens.imaging.decode import SNIFF_BYTES, sniff_format

DEFAULT_MAX_BYTES = 10 * 2**20

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# identity: a compressed body could expand far past max_bytes within a single decoded chunk.
_HEADERS = {"User-Agent": "ShopLens-fetch/0.1", "Accept": "image/*", "Accept-Encoding": "identity"}


@dataclass(frozen=True)
class FetchPolicy:
    """What fetching may do: which hosts, how many bytes, how long, how often, how many at once.

    allowed_hosts holds exact host names or IP addresses; `*.example.com` (or `.example.com`) allows the
    subdomains of example.com, not example.com itself. Empty allows nothing. retries counts the tries
    after the first one; timeouts are in seconds, total_timeout bounding one whole try (None: unbounded).
    """

    allowed_hosts: frozenset[str] = frozenset()
    allow_private: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float | None = 60.0
    retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    concurrency: int = 8
    schemes: tuple[str, ...] = ("http", "https")
    max_redirects: int = 3
    max_total_bytes: int | None = None  # all the URLs of one fetch_many together (a request's body limit)

    def __post_init__(self) -> None:
        if isinstance(self.allowed_hosts, str):
            raise ValueError("allowed_hosts must be a collection of host names, not one string")
        entries = {normalise_host(h.strip().removeprefix("*")) for h in self.allowed_hosts}
        object.__setattr__(self, "allowed_hosts", frozenset(e for e in entries if e.strip(".")))
        object.__setattr__(self, "schemes", tuple(s.lower() for s in self.schemes))
        if self.max_bytes < 1 or self.concurrency < 1 or self.retries < 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and concurrency must be positive; retries and max_redirects >= 0")

    def allows_host(self, host: str) -> bool:
        """Whether the host is listed, exactly or under a subdomain wildcard."""
        name = normalise_host(host)
        if name in self.allowed_hosts:
            return True
        return any(entry.startswith(".") and name.endswith(entry) for entry in self.allowed_hosts)


@dataclass
class FetchResult:
    """What happened to one URL: the image bytes, or a readable reason why there are none.

    attempts is how many times the fetch was tried (0 when the URL itself was refused); status is the
    last HTTP status received, if any.
    """

    url: str
    data: bytes | None = field(default=None, repr=False)
    error: str | None = None
    attempts: int = 0
    status: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the bytes of an accepted image format were fetched."""
        return self.error is None and self.data is not None


async def fetch_many(
    urls: Sequence[str],
    policy: FetchPolicy,
    on_result: Callable[[int, FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Fetch every URL under the policy; results in input order, on_result(index, result) as each ends."""
    results: list[FetchResult | None] = [None] * len(urls)
    semaphore = asyncio.Semaphore(policy.concurrency)
    timeout = httpx.Timeout(
        connect=policy.connect_timeout,
        read=policy.read_timeout,
        write=policy.read_timeout,
        pool=policy.connect_timeout,
    )
    limits = httpx.Limits(max_connections=policy.concurrency, max_keepalive_connections=policy.concurrency)
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))  # no state between URLs
    budget = _Budget(policy.max_total_bytes)
    async with httpx.AsyncClient(
        trust_env=False,  # no proxies or .netrc from the environment
        follow_redirects=False,  # followed by hand so that each hop is checked
        timeout=timeout,
        limits=limits,
        headers=_HEADERS,
        cookies=no_cookies,
    ) as client:

        async def run(index: int, url: str) -> None:
            result = await _fetch_one(client, semaphore, url, policy, budget)
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        async with asyncio.TaskGroup() as group:
            for index, url in enumerate(urls):
                group.create_task(run(index, url))
    return [result for result in results if result is not None]


def fetch_all(
    urls: Sequence[str],
    policy: FetchPolicy,
    on_result: Callable[[int, FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Synchronous fetch_many, for code that is not already running an event loop."""
    return asyncio.run(fetch_many(urls, policy, on_result))


@dataclass
class _Budget:
    """Bytes all the URLs of one fetch may still receive together (None: no bound but each URL's own)."""

    left: int | None

    def spend(self, n: int, status: int) -> None:
        """Count received bytes; _Refused once the URLs together pass the bound."""
        if self.left is None:
            return
        self.left -= n
        if self.left < 0:
            raise _Refused("too large: the request's images together pass its body limit", status)


class _Refused(ShopLensError):
    """A failure that trying again would not change (policy, HTTP 4xx, too large, not an image)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class _Transient(ShopLensError):
    """A failure worth another try (connection, timeout, HTTP 429/5xx)."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


async def _fetch_one(
    client: httpx.AsyncClient,
    semaphore: asyncio.Semaphore,
    raw_url: str,
    policy: FetchPolicy,
    budget: _Budget,
) -> FetchResult:
    """One URL to a FetchResult, retrying transient failures; the semaphore is not held while waiting."""
    try:
        url = _parse(raw_url, policy)
    except _Refused as exc:
        return FetchResult(raw_url, error=exc.reason)
    attempts = 0
    while True:
        attempts += 1
        try:
            async with semaphore:
                async with asyncio.timeout(policy.total_timeout):
                    data, status = await _fetch_chain(client, url, policy, budget)
            return FetchResult(raw_url, data=data, attempts=attempts, status=status)
        except _Refused as exc:
            return FetchResult(raw_url, error=exc.reason, attempts=attempts, status=exc.status)
        except _Transient as exc:
            failure = exc
        except TimeoutError:  # total_timeout
            failure = _Transient("timed out")
        if attempts > policy.retries:
            plural = "s" if attempts > 1 else ""
            reason = f"{failure.reason} after {attempts} attempt{plural}"
            return FetchResult(raw_url, error=reason, attempts=attempts, status=failure.status)
        await asyncio.sleep(_backoff_delay(policy, attempts, failure.retry_after))


def _port(url: httpx.URL) -> int:
    """The port a URL reaches (its scheme's default when none is written)."""
    return url.port or (443 if url.scheme == "https" else 80)


async def _fetch_chain(
    client: httpx.AsyncClient, url: httpx.URL, policy: FetchPolicy, budget: _Budget
) -> tuple[bytes, int]:
    """Follow up to max_redirects redirects from an already checked URL, checking every address."""
    target = url
    for hop in range(policy.max_redirects + 1):
        try:
            if hop:
                _check_url(target, policy)
                if _port(target) != _port(url):  # an allowed host's redirect may not move to another service
                    raise _Refused(f"port changed to {_port(target)}")
            await _check_address(target, policy)
        except _Refused as exc:
            raise _Refused(f"redirect refused: {exc.reason}" if hop else exc.reason, exc.status) from None
        outcome = await _get(client, target, policy, budget)
        if not isinstance(outcome, httpx.URL):
            return outcome
        target = outcome
    raise _Refused(f"too many redirects (more than {policy.max_redirects})")


async def _get(
    client: httpx.AsyncClient, url: httpx.URL, policy: FetchPolicy, budget: _Budget
) -> httpx.URL | tuple[bytes, int]:
    """One GET: the redirect target, or the capped and sniffed body with its status."""
    try:
        async with client.stream("GET", url) as response:
            return await _read(response, url, policy, budget)
    except httpx.TimeoutException:
        raise _Transient("timed out") from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise _Transient(f"connection failed: {exc or type(exc).__name__}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _Refused(f"request failed: {exc or type(exc).__name__}") from None


async def _read(
    response: httpx.Response, url: httpx.URL, policy: FetchPolicy, budget: _Budget
) -> httpx.URL | tuple[bytes, int]:
    """Judge the status and headers, then stream at most max_bytes (plus one chunk) of body."""
    status = response.status_code
    if status in _REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location:
            raise _Refused(f"redirect without a Location header (HTTP {status})", status)
        try:
            return url.join(location)
        except httpx.InvalidURL:
            raise _Refused(f"redirect refused: invalid Location {location[:100]!r}", status) from None
    if status == 429 or status >= 500:
        raise _Transient(f"HTTP {status}", status, _retry_after(response.headers.get("retry-after")))
    if not 200 <= status < 300:
        raise _Refused(f"HTTP {status}", status)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _Refused(f"unsupported content encoding: {encoding[:40]}", status)
    too_large = _Refused(f"too large: more than {policy.max_bytes} bytes", status)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise too_large
    body = bytearray()
    sniffed = False
    async for chunk in response.aiter_raw():  # raw: never decoded, so counted bytes are received bytes
        body += chunk
        if len(body) > policy.max_bytes:
            raise too_large
        budget.spend(len(chunk), status)
        if not sniffed and len(body) >= SNIFF_BYTES:
            _require_image(body, response)  # refuse a non-image before reading the rest of it
            sniffed = True
    _require_image(body, response)
    return bytes(body), status


def _require_image(body: bytearray, response: httpx.Response) -> None:
    """Refuse content whose magic bytes are not an accepted image format."""
    if sniff_format(bytes(body[:SNIFF_BYTES])) is not None:
        return
    content_type = response.headers.get("content-type", "").split(";")[0].strip()[:60]
    what = "empty response" if not body else content_type or "unknown content"
    raise _Refused(f"not an image ({what})", response.status_code)


def _parse(raw_url: str, policy: FetchPolicy) -> httpx.URL:
    """Parse a URL given by the user and check it against the policy (nothing resolved or sent)."""
    text = raw_url.strip() if isinstance(raw_url, str) else ""
    shown = repr(raw_url)[:120]
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise _Refused(f"not a valid URL: {shown}") from None
    if not url.scheme or not url.host:
        raise _Refused(f"not a URL with a scheme and a host: {shown}")
    _check_url(url, policy)
    return url


def _check_url(url: httpx.URL, policy: FetchPolicy) -> None:
    """Refuse a URL whose scheme or host the policy does not allow, or an internal IP literal."""
    if url.scheme not in policy.schemes:
        raise _Refused(f"unsupported scheme: {url.scheme or 'none'} (allowed: {', '.join(policy.schemes)})")
    if not url.host:
        raise _Refused("URL has no host")
    ascii_host = url.raw_host.decode("ascii", "replace")
    if not (policy.allows_host(url.host) or policy.allows_host(ascii_host)):
        raise _Refused(f"host not allowed: {url.host}")
    literal = ip_literal(url.host)
    if literal is not None and not policy.allow_private and not is_public(literal):
        raise _Refused(f"private/internal address not allowed: {literal}")


async def _check_address(url: httpx.URL, policy: FetchPolicy) -> None:
    """Resolve the host and refuse it if any of its addresses is not public (unless allow_private).

    Known limitation (DNS rebinding): httpx resolves the name again when it connects, so a name server
    answering differently the second time could still reach an internal address. Pinning the checked
    address would need custom transport code for TLS (SNI, certificates) and is not done here.
    """
    if policy.allow_private or ip_literal(url.host) is not None:
        return  # IP literals were checked by _check_url
    host = url.raw_host.decode("ascii", "replace")
    port = url.port or (443 if url.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(policy.connect_timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise _Transient(f"DNS lookup timed out for {host}") from None
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise _Transient(f"DNS lookup failed for {host} (temporary)") from None
        raise _Refused(f"cannot resolve host: {host}") from None
    except (OSError, UnicodeError):
        raise _Refused(f"cannot resolve host: {host}") from None
    for info in infos:
        try:
            address = ipaddress.ip_address(info[4][0])
        except ValueError:
            raise _Refused(f"host {host} resolves to an unreadable address") from None
        if not is_public(address):
            raise _Refused(f"host {host} resolves to a private/internal address ({address})")


def _backoff_delay(policy: FetchPolicy, attempt: int, retry_after: float | None) -> float:
    """Seconds before the next try: exponential with jitter, at least Retry-After, capped."""
    base = min(policy.max_backoff_s, policy.backoff_s * 2 ** min(attempt - 1, 30))
    delay = base * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_backoff_s))
    return delay


def _retry_after(value: str | None) -> float | None:
    """Seconds asked for by a Retry-After header (delay in seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
