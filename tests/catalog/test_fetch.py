"""URL fetching against a real HTTP server on 127.0.0.1: allowlist, internal addresses, size cap, sniffing,
retries, timeouts, redirects, concurrency and result order."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from shoplens.catalog.fetch import FetchPolicy, FetchResult, fetch_all, fetch_many
from shoplens.catalog.fetch_addresses import is_public
from shoplens.imaging import decode_image
from tests.support.image_server import HUGE_TOTAL, MiB, Server, png


@pytest.fixture(scope="module")
def running_server() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server(running_server: Server) -> Server:
    running_server.reset()
    return running_server


def local(**overrides: object) -> FetchPolicy:
    """A policy for the test server: 127.0.0.1 allowed, internal addresses allowed, quick retries."""
    settings: dict[str, object] = {
        "allowed_hosts": frozenset({"127.0.0.1"}),
        "allow_private": True,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "total_timeout": 10.0,
        "retries": 2,
        "backoff_s": 0.01,
    }
    settings.update(overrides)
    return FetchPolicy(**settings)  # type: ignore[arg-type]


def fetch_one(url: str, policy: FetchPolicy) -> FetchResult:
    (result,) = fetch_all([url], policy)
    return result


def test_png_fetched_from_allowed_host(server: Server) -> None:
    result = fetch_one(server.url("/png"), local())
    assert result.ok, result.error
    assert result.data == png()
    assert (result.attempts, result.status, result.error) == (1, 200, None)


def test_loopback_literal_refused_by_default_before_any_request(server: Server) -> None:
    result = fetch_one(server.url("/png"), local(allow_private=False))
    assert not result.ok and result.data is None
    assert "private/internal address" in result.error
    assert result.attempts == 0
    assert server.hits == []


def test_name_resolving_to_loopback_refused_before_any_request(server: Server) -> None:
    policy = local(allowed_hosts={"localhost"}, allow_private=False)
    result = fetch_one(server.url("/png", host="localhost"), policy)
    assert "resolves to a private/internal address" in result.error
    assert server.hits == []


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[fe80::1]",
        "[::ffff:127.0.0.1]",
        "[fd00::1]",
    ],
)
def test_internal_ip_literals_refused(host: str) -> None:
    result = fetch_one(f"http://{host}/latest/meta-data", FetchPolicy(allowed_hosts={host}, retries=0))
    assert result.error.startswith("private/internal address not allowed"), result.error


def test_host_outside_allowlist_refused_without_request(server: Server) -> None:
    result = fetch_one(server.url("/png"), local(allowed_hosts={"example.com", "*.127.0.0.1"}))
    assert result.error == "host not allowed: 127.0.0.1"
    nothing_allowed = fetch_one(server.url("/png"), local(allowed_hosts=frozenset()))
    assert nothing_allowed.error == "host not allowed: 127.0.0.1"
    assert server.hits == []


def test_allowlist_exact_names_and_subdomain_wildcards() -> None:
    policy = FetchPolicy(allowed_hosts={"*.cdn.example.com", ".shop.test", "Images.ORG.", "[::1]"})
    assert policy.allows_host("a.cdn.example.com") and policy.allows_host("x.y.cdn.example.com")
    assert policy.allows_host("img.shop.test") and policy.allows_host("images.org.")
    assert policy.allows_host("::1") and policy.allows_host("0:0::1")
    assert not policy.allows_host("cdn.example.com")  # the wildcard is for subdomains only
    assert not policy.allows_host("evilcdn.example.com") and not policy.allows_host("shop.test.evil.com")
    assert not policy.allows_host("images.org.evil.com")
    with pytest.raises(ValueError):
        FetchPolicy(allowed_hosts="example.com")  # type: ignore[arg-type]


def test_invalid_urls_become_error_results(server: Server) -> None:
    urls = ["not a url", "ftp://127.0.0.1/x.png", "http:///x.png", "", "http://[::1", "file:///etc/passwd"]
    results = fetch_all(urls, local())
    assert [r.url for r in results] == urls
    assert all(not r.ok and r.error and r.attempts == 0 for r in results)
    assert results[1].error.startswith("unsupported scheme: ftp")
    assert server.hits == []


def test_html_is_not_an_image_whatever_its_content_type(server: Server) -> None:
    result = fetch_one(server.url("/html"), local())
    assert result.error == "not an image (image/png)"
    assert result.attempts == 1


def test_heic_is_sniffed_past_its_structural_brand_and_a_movie_is_not_an_image(server: Server) -> None:
    result = fetch_one(server.url("/heic"), local())
    assert result.ok, result.error
    assert decode_image(result.data).getpixel((4, 4)) == pytest.approx((200, 30, 30), abs=8)
    assert fetch_one(server.url("/movie"), local()).error == "not an image (image/heic)"


def test_body_without_length_is_cut_off_at_the_cap(server: Server) -> None:
    result = fetch_one(server.url("/huge"), local(max_bytes=1 * MiB))
    assert result.error == f"too large: more than {MiB} bytes"
    assert result.attempts == 1  # oversize is not retried
    assert server.huge_done.wait(5)
    # The server stops once the client hangs up: what it wrote is the cap plus socket buffers, not 64 MiB.
    assert server.huge_sent < HUGE_TOTAL // 3


def test_declared_oversize_refused_from_headers(server: Server) -> None:
    started = time.monotonic()
    result = fetch_one(server.url("/declared-huge"), local(max_bytes=1 * MiB))
    assert result.error == f"too large: more than {MiB} bytes"
    assert time.monotonic() - started < 0.9  # did not wait for the stalled body


def test_transient_503_retried_until_success(server: Server) -> None:
    result = fetch_one(server.url("/flaky?key=a&fail=2&code=503"), local(retries=3))
    assert result.ok and result.data == png()
    assert result.attempts == 3
    assert len(server.hits) == 3


def test_retries_exhausted_report_last_status(server: Server) -> None:
    result = fetch_one(server.url("/flaky?key=b&fail=9&code=500"), local(retries=2))
    assert (result.error, result.attempts, result.status) == ("HTTP 500 after 3 attempts", 3, 500)


def test_retry_after_is_honoured_up_to_the_cap(server: Server) -> None:
    started = time.monotonic()
    result = fetch_one(server.url("/flaky?key=c&fail=1&code=429&retry_after=1"), local())
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started >= 0.9
    started = time.monotonic()
    capped = fetch_one(server.url("/flaky?key=d&fail=1&code=429&retry_after=3600"), local(max_backoff_s=0.05))
    assert capped.ok and capped.attempts == 2
    assert time.monotonic() - started < 2


def test_404_is_not_retried(server: Server) -> None:
    result = fetch_one(server.url("/missing.png"), local(retries=3))
    assert (result.error, result.attempts, result.status) == ("HTTP 404", 1, 404)
    assert len(server.hits) == 1


def test_slow_response_times_out_after_retries(server: Server) -> None:
    result = fetch_one(server.url("/slow"), local(read_timeout=0.3, retries=1))
    assert (result.error, result.attempts) == ("timed out after 2 attempts", 2)


def test_total_timeout_bounds_one_try(server: Server) -> None:
    result = fetch_one(server.url("/slow"), local(total_timeout=0.3, retries=0))
    assert result.error == "timed out after 1 attempt"


def test_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once closed
    result = fetch_one(f"http://127.0.0.1:{port}/x.png", local(retries=1))
    assert result.error.startswith("connection failed") and result.error.endswith("after 2 attempts")


def test_redirect_to_disallowed_host_refused(server: Server) -> None:
    target = server.url("/png", host="localhost")
    result = fetch_one(server.url(f"/redirect?to={target}"), local())
    assert result.error == "redirect refused: host not allowed: localhost"
    assert (result.attempts, len(server.hits)) == (1, 1)  # the target was never asked


def test_redirect_to_another_scheme_refused(server: Server) -> None:
    result = fetch_one(server.url("/redirect?to=file:///etc/passwd"), local())
    assert result.error.startswith("redirect refused: unsupported scheme: file")


def test_allowed_redirects_followed_and_bounded(server: Server) -> None:
    followed = fetch_one(server.url("/redirect?to=/png"), local())
    assert followed.ok and followed.data == png() and followed.status == 200
    looping = fetch_one(server.url("/loop"), local(max_redirects=2))
    assert looping.error == "too many redirects (more than 2)"
    assert sum(hit == "/loop" for hit in server.hits) == 3


def test_concurrency_limit_order_and_progress_callback(server: Server) -> None:
    urls = [server.url(f"/probe?i={i}") for i in range(6)]
    seen: list[int] = []
    results = asyncio.run(fetch_many(urls, local(concurrency=2), on_result=lambda i, r: seen.append(i)))
    assert server.max_active == 2  # never more than the limit, and the limit was used
    assert [r.url for r in results] == urls
    assert [r.data for r in results] == [png(i) for i in range(6)]
    assert sorted(seen) == list(range(6))


def test_redirect_to_another_port_of_an_allowed_host_refused(server: Server) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        target = f"http://127.0.0.1:{other.getsockname()[1]}/png"
        result = fetch_one(server.url(f"/redirect?to={target}"), local())
    assert result.error.startswith("redirect refused: port changed to")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("2002:7f00:1::1", False),
        ("2002:a00:1::1", False),
        ("2002:808:808::1", True),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),
    ],
)
def test_ipv6_addresses_carrying_an_internal_ipv4_are_not_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_the_urls_of_one_fetch_share_a_byte_budget(server: Server) -> None:
    one = len(png())
    results = fetch_all([server.url("/png"), server.url("/png")], local(max_total_bytes=one + one // 2))
    assert sorted(r.ok for r in results) == [False, True]  # each fits alone; together they pass it
    (refused,) = [r for r in results if not r.ok]
    assert refused.error == "too large: the request's images together pass its body limit"
    assert all(r.ok for r in fetch_all([server.url("/png")] * 2, local(max_total_bytes=2 * one)))
