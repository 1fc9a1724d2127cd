"""Webhooks never reach the server's own network (issue #18, item 3): literal addresses are
refused at registration, every delivery resolves the host and refuses loopback, private,
link-local, multicast, reserved and unspecified addresses (IPv4, IPv6, IPv4-mapped), unless
CHILDPROTECT_WEBHOOK_ALLOW_NETWORKS lists them; the delivery log then says only "refused".

Nothing here sends traffic anywhere but the loopback: names are resolved by a stub, and a
refused address is never connected to."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from childprotect_api.config import ConfigError, Settings
from childprotect_api.core.errors import Unprocessable
from childprotect_api.main import create_app
from childprotect_api.security import netguard
from childprotect_api.services.integrations.webhooks import check_url
from childprotect_api.services.integrations.worker import WebhookWorker
from tests.conftest import COUNTY, VILLAGE
from tests.integrations.client_helpers import seed_client
from tests.integrations.test_webhooks import HOOKS, READ_ALL, deliveries, emit, subscribe
from tests.integrations.webhook_receiver import start_receiver

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.5",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fd00::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.5",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "2001:db8::1",  # documentation
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


def production_like(**extra) -> Settings:
    return Settings(
        env="staging",
        DATABASE_URL="postgresql://x/y",
        jwt_keys="k" * 40,
        data_key="d" * 40,
        **extra,
    )


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address):
    assert not netguard.is_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert netguard.is_allowed(ipaddress.ip_address(address))


def test_the_allow_list_opens_only_its_networks():
    allow = netguard.parse_networks("10.20.0.0/16, fd12::/48")
    assert netguard.is_allowed(ipaddress.ip_address("10.20.3.4"), allow)
    assert netguard.is_allowed(ipaddress.ip_address("::ffff:10.20.3.4"), allow)
    assert netguard.is_allowed(ipaddress.ip_address("fd12::7"), allow)
    assert not netguard.is_allowed(ipaddress.ip_address("10.21.0.1"), allow)
    assert not netguard.is_allowed(ipaddress.ip_address("127.0.0.1"), allow)
    with pytest.raises(ConfigError):
        production_like(webhook_allow_networks="10.0.0.0/8,not-a-network")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:6379/",
        "https://10.0.0.5/h",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/h",
        "https://[fd00::1]/h",
        "https://0.0.0.0/h",
        "https://[::ffff:127.0.0.1]/h",
        "https://2130706433/h",  # 127.0.0.1 as one number
        "https://127.1/h",
        "https://0x7f.0.0.1/h",
        "https://localhost/h",
        "https://hooks.localhost/h",
        "https://LOCALHOST./h",
        "https://[fe80::1%25eth0]/h",
    ],
)
def test_literal_private_addresses_are_refused_at_registration(url):
    with pytest.raises(Unprocessable) as caught:
        check_url(url, production_like())
    assert caught.value.code == "forbidden_address"
    assert caught.value.errors[0].field == "url"
    # A private deployment lists its own network.
    check_url(
        url.replace("localhost", "127.0.0.1"),
        production_like(webhook_allow_networks="0.0.0.0/0,::/0"),
    )


def test_names_and_public_addresses_pass_registration():
    assert check_url("https://hooks.edu.example.cn/h", production_like())
    assert check_url("https://8.8.8.8/h", production_like())


async def test_the_api_refuses_a_private_url(settings, db, session, world):
    strict = settings.model_copy(update={"webhook_allow_networks": ""})
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    transport = httpx.ASGITransport(app=create_app(strict, db))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for url in ("https://10.0.0.5/h", "https://[::1]/h", "http://127.0.0.1:6379/"):
            r = await http.post(
                HOOKS, json={"url": url, "event_types": ["visit.overdue"]}, headers=c.headers
            )
            assert r.status_code == 422, r.text
            assert r.json()["code"] == "forbidden_address"
            assert r.json()["errors"][0]["field"] == "url"


@pytest.fixture
async def receiver():
    r, server, task = await start_receiver()
    yield r
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def test_delivery_to_the_loopback_is_refused_without_the_allow_list(
    client, world, session, settings, db, receiver
):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    sub = await subscribe(client, c.headers, receiver, "/h", ["visit.overdue"])
    await emit(session, "visit.overdue", VILLAGE, visit_id="v1")
    # The worker of a deployment that does not list the loopback.
    strict = WebhookWorker(db, settings.model_copy(update={"webhook_allow_networks": ""}))
    stats = await strict.run_once()
    assert stats.failed == 1 and stats.delivered == 0
    assert receiver.hits == []
    [d] = await deliveries(client, c.headers, sub["id"])
    assert d["status"] == "failed"  # retried like any failure, and refused each time
    assert d["last_status_code"] is None and d["last_error"] == "refused"
    [attempt] = d["attempt_log"]
    assert attempt["status_code"] is None and attempt["error"] == "refused"
    assert attempt["duration_ms"] == 0


class _NoTraffic(httpx.AsyncBaseTransport):
    """An HTTP client that must never be used."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["fd00::1"],
        ["93.184.216.34", "10.0.0.5"],  # one private among public ones
    ],
)
async def test_a_name_resolving_to_a_private_address_is_refused(
    client, world, session, settings, db, answers
):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    r = await client.post(
        HOOKS,
        json={"url": "https://hooks.edu.example.cn/h", "event_types": ["visit.overdue"]},
        headers=c.headers,
    )
    assert r.status_code == 201, r.text
    await emit(session, "visit.overdue", VILLAGE, visit_id="v1")
    transport = _NoTraffic()
    async with httpx.AsyncClient(transport=transport) as http:
        strict = settings.model_copy(update={"webhook_allow_networks": ""})
        worker = WebhookWorker(db, strict, http=http)
        asked: list[str] = []

        async def resolve(host: str, port: int):
            asked.append(f"{host}:{port}")
            return [ipaddress.ip_address(a) for a in answers]

        worker.resolve = resolve  # type: ignore[method-assign]
        assert (await worker.run_once()).failed == 1
    assert asked == ["hooks.edu.example.cn:443"]
    assert transport.requests == []
    [d] = await deliveries(client, c.headers, r.json()["id"])
    assert d["last_error"] == "refused" and d["last_status_code"] is None


async def test_delivery_connects_to_the_address_it_checked(
    client, world, session, settings, db, receiver
):
    """The name is resolved once and the POST goes to that address, with the name kept in the
    Host header (a second resolution could answer otherwise: DNS rebinding)."""
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    port = receiver.base_url.rsplit(":", 1)[1]
    r = await client.post(
        HOOKS,
        json={"url": f"http://localhost:{port}/pinned", "event_types": ["visit.overdue"]},
        headers=c.headers,
    )
    assert r.status_code == 201, r.text
    receiver.secrets["/pinned"] = r.json()["secret"]
    await emit(session, "visit.overdue", VILLAGE, visit_id="v1")
    worker = WebhookWorker(db, settings)
    calls = 0

    async def resolve(host: str, port: int):
        nonlocal calls
        calls += 1
        return [ipaddress.ip_address("127.0.0.1")]

    worker.resolve = resolve  # type: ignore[method-assign]
    assert (await worker.run_once()).delivered == 1
    assert calls == 1
    [hit] = receiver.hits
    assert hit.signature_ok and hit.headers["host"] == f"localhost:{port}"


async def test_a_name_that_does_not_resolve_reads_like_a_refusal(
    client, world, session, settings, db
):
    """An internal name that does not resolve and one that resolves to a private address
    leave the same log: no way to enumerate the server's network by names."""
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    r = await client.post(
        HOOKS,
        json={"url": "https://nowhere.invalid/h", "event_types": ["visit.overdue"]},
        headers=c.headers,
    )
    assert r.status_code == 201, r.text
    await emit(session, "visit.overdue", VILLAGE, visit_id="v1")
    transport = _NoTraffic()
    async with httpx.AsyncClient(transport=transport) as http:
        worker = WebhookWorker(db, settings, http=http)

        async def resolve(host: str, port: int):
            raise OSError("no such name")

        worker.resolve = resolve  # type: ignore[method-assign]
        assert (await worker.run_once()).failed == 1
    assert transport.requests == []
    [d] = await deliveries(client, c.headers, r.json()["id"])
    assert d["status"] == "failed" and d["last_error"] == "refused"
    assert d["last_status_code"] is None and d["attempt_log"][0]["duration_ms"] == 0
