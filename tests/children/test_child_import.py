"""Bulk import of screening results (摸排): CSV and XLSX with Chinese headers, dry run and real
run with bad rows, duplicates, scope and permissions, bad files, and the job of a large file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.benefit import CategoryApplication
from childprotect_api.models.child import Child
from childprotect_api.services.children import id_numbers
from tests.children.child_payloads import CHILDREN
from tests.conftest import (
    COUNTY,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
)
from tests.factories import make_child
from tests.integrations.client_helpers import seed_client


async def _proposed(session, child_id) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    stmt = select(CategoryApplication.category, CategoryApplication.status).where(
        CategoryApplication.child_id == child_id
    )
    return [(c, s) for c, s in await session.execute(stmt)]


IMPORT = f"{CHILDREN}/import"
HEADER = [
    "姓名",
    "性别",
    "身份证号",
    "出生日期",
    "村代码",
    "类别",
    "父亲状况",
    "母亲状况",
    "学校",
    "年级",
    "地址",
]


def idn(born: date, seq: int, gender: str = "male", county: str = "620722") -> str:
    return id_numbers.make(county, born, seq, gender)


def csv_bytes(rows: list[list[Any]], header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


async def upload(client, headers, content: bytes, *, name="摸排.csv", dry_run=False, **kw):
    params = {"dry_run": "true"} if dry_run else {}
    return await client.post(
        IMPORT, params=params, files={"file": (name, content, "text/csv")}, headers=headers, **kw
    )


async def count_children(session) -> int:
    return (await session.execute(select(func.count()).select_from(Child))).scalar_one()


B1, B2, B3 = date(2014, 6, 1), date(2016, 9, 12), date(2009, 2, 3)


def mixed_rows(existing_in: str, existing_out: str) -> list[list[Any]]:
    """Rows 2..12 of a file with good and bad rows (see the expectations in the test)."""
    good = idn(B1, 1)
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    return [
        [
            "张三",
            "男",
            good,
            "2014-06-01",
            VILLAGE,
            "留守儿童;低保",
            "外出务工",
            "在家",
            "洪水小学",
            "三年级",
            "一组",
        ],  # 2 created
        [
            "李四",
            "女",
            "",
            "2016/9/12",
            VILLAGE,
            "困境儿童、孤儿",
            "死亡",
            "死亡",
            "",
            "",
            "",
        ],  # 3 created (no ID)
        [
            "王五",
            "男",
            bad_check,
            "2014-06-01",
            VILLAGE,
            "",
            "",
            "",
            "",
            "",
            "",
        ],  # 4 bad check digit
        [
            "赵六",
            "男",
            idn(B1, 2),
            "2014-06-01",
            VILLAGE_OTHER_COUNTY,
            "",
            "",
            "",
            "",
            "",
            "",
        ],  # 5 out of scope
        [
            "孙七",
            "男",
            idn(B1, 3),
            "2014-06-01",
            VILLAGE,
            "外星儿童",
            "",
            "",
            "",
            "",
            "",
        ],  # 6 unknown category
        [
            "周八",
            "女",
            idn(B3, 4, "female"),
            "",
            VILLAGE,
            "left_behind",
            "",
            "",
            "",
            "",
            "",
        ],  # 7 16+ left-behind
        ["吴九", "男", existing_in, "", VILLAGE, "", "", "", "", "", ""],  # 8 duplicate in scope
        ["郑十", "男", existing_out, "", VILLAGE, "", "", "", "", "", ""],  # 9 duplicate elsewhere
        [
            "张三",
            "男",
            good,
            "2014-06-01",
            VILLAGE,
            "",
            "",
            "",
            "",
            "",
            "",
        ],  # 10 duplicate of row 2
        ["", "", "", "", "", "", "", "", "", "", ""],  # 11 blank: skipped
        ["", "女", "", "2016-01-01", VILLAGE, "", "", "", "", "", ""],  # 12 no name
        [
            "钱一",
            "女",
            "",
            "2015年3月4日",
            VILLAGE,
            "",
            "坐牢",
            "",
            "",
            "",
            "",
        ],  # 13 unknown situation
    ]


def by_row(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["row"]: r for r in report["rows"]}


async def test_dry_run_then_real_run_with_bad_rows(client, world, session, settings):
    existing_in = await make_child(session, settings, VILLAGE_SAME_TOWNSHIP, birth_date=B2)
    existing_out = await make_child(session, settings, VILLAGE_OTHER_COUNTY, birth_date=B2)
    numbers = [
        id_numbers.reveal(settings.data_key, c.id_number_enc)  # type: ignore[arg-type]
        for c in (existing_in, existing_out)
    ]
    content = csv_bytes(mixed_rows(*numbers))
    before = await count_children(session)
    supervisor = world["supervisor"].headers

    r = await upload(client, supervisor, content, dry_run=True)
    assert r.status_code == 200, r.text
    dry = r.json()
    assert dry["dry_run"] is True
    # Row 9 (registered in another county) reads like a new row in a dry run (issue #18).
    assert (dry["total"], dry["created"], dry["duplicates"], dry["invalid"]) == (11, 3, 2, 6)
    rows = by_row(dry)
    assert 11 not in rows  # the blank row
    assert rows[2]["outcome"] == "created" and rows[2]["child_id"] is None
    assert rows[3]["outcome"] == "created"
    assert rows[4]["errors"][0] == {
        "field": "id_number",
        "code": "invalid_id_number",
        "message": "the ID number has a wrong check digit",
    }
    assert rows[5]["errors"][0]["field"] == "area_code"
    assert rows[6]["errors"][0]["field"] == "categories"
    assert rows[7]["errors"][0]["code"] == "category_not_applicable"
    assert rows[8]["outcome"] == "duplicate"
    assert rows[8]["existing_child_id"] == str(existing_in.id)
    assert rows[9] == {**rows[2], "row": 9}
    assert rows[10]["duplicate_of_row"] == 2
    assert rows[12]["errors"][0]["field"] == "name"
    assert rows[13]["errors"][0]["field"] == "father.situation"
    assert await count_children(session) == before
    # The report holds no names and no ID numbers.
    text = json.dumps(dry, ensure_ascii=False)
    assert "张三" not in text and numbers[0] not in text and idn(B1, 1) not in text

    r = await upload(client, supervisor, content)
    assert r.status_code == 200, r.text
    real = r.json()
    assert real["dry_run"] is False
    assert (real["created"], real["duplicates"], real["invalid"]) == (2, 3, 6)
    assert await count_children(session) == before + 2
    rows = by_row(real)
    created = await session.get(Child, rows[2]["child_id"])
    assert created is not None and created.name == "张三" and created.area_code == VILLAGE
    # A supervisor's import proposes the benefit category (an application), not grants it.
    assert created.categories == ["left_behind"]
    assert await _proposed(session, created.id) == [("low_income", "submitted")]
    assert created.father == {"situation": "working_away"}
    assert created.school == "洪水小学" and created.address == "一组"
    assert created.id_number_masked and created.id_number_masked.endswith(idn(B1, 1)[-4:])
    no_id = await session.get(Child, rows[3]["child_id"])
    assert no_id is not None and no_id.birth_date == B2 and no_id.id_number_hash is None
    assert rows[10]["existing_child_id"] == rows[2]["child_id"]
    actions = (
        await session.execute(select(AuditEvent.action).where(AuditEvent.resource_id == created.id))
    ).scalars()
    assert list(actions) == ["child.create"]

    # Sending the same file again creates nothing: the created rows are duplicates now.
    r = await upload(client, supervisor, content)
    again = r.json()
    assert (again["created"], again["duplicates"], again["invalid"]) == (0, 5, 6)
    assert by_row(again)[3]["existing_child_id"] == rows[3]["child_id"]
    assert await count_children(session) == before + 2


async def test_xlsx_with_chinese_headers_and_typed_cells(client, world, session, settings):
    header = [
        "儿童姓名",
        "性别*",
        "公民身份号码",
        "出生日期",
        "村(居)代码",
        "儿童类别",
        "母亲情况",
        "母亲务工地点",
        "是否寄宿",
        "就学状态",
        "风险等级",
        "备注",
    ]
    rows = [
        [
            "马小龙",
            "男",
            idn(B1, 7),
            date(2014, 6, 1),
            int(VILLAGE),
            "农村留守儿童、其他低保家庭儿童",
            "外出务工",
            "新疆",
            "是",
            "在校",
            "黄",
            "x",
        ],
        # Gender and birth date from the ID number; the code typed as a number.
        [
            "马小凤",
            None,
            idn(B2, 8, "female"),
            None,
            int(VILLAGE),
            None,
            None,
            None,
            "否",
            "辍学",
            None,
            None,
        ],
    ]
    r = await upload(client, world["director"].headers, xlsx_bytes(rows, header), name="摸排.xlsx")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["created"] == 2, report
    assert report["ignored_columns"] == ["备注"]
    first = await session.get(Child, report["rows"][0]["child_id"])
    assert first is not None
    assert first.categories == ["left_behind"]
    assert await _proposed(session, first.id) == [("low_income", "submitted")]
    assert first.mother == {"situation": "working_away", "work_place": "新疆"}
    assert first.boarding is True and first.enrolment_status == "enrolled"
    assert first.risk_level == "yellow"
    second = await session.get(Child, report["rows"][1]["child_id"])
    assert second is not None and second.gender == "female" and second.birth_date == B2
    assert second.enrolment_status == "dropped_out" and second.boarding is False


async def test_gbk_csv_with_english_headers(client, world, session, settings):
    header = ["name", "gender", "id_number", "birth_date", "area_code", "categories"]
    rows = [["刘小明", "male", idn(B1, 9), "20140601", VILLAGE, "left_behind;disabled"]]
    r = await upload(client, world["officer"].headers, csv_bytes(rows, header, "gbk"))
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1
    child = await session.get(Child, r.json()["rows"][0]["child_id"])
    assert child is not None and child.name == "刘小明"


async def test_a_director_imports_only_into_their_village(client, world, session, settings):
    rows = [
        ["甲", "男", idn(B1, 11), "2014-06-01", VILLAGE, "", "", "", "", "", ""],
        ["乙", "男", idn(B1, 12), "2014-06-01", VILLAGE_SAME_TOWNSHIP, "", "", "", "", "", ""],
        ["丙", "男", idn(B1, 13), "2014-06-01", "620722100", "", "", "", "", "", ""],
    ]
    r = await upload(client, world["director"].headers, csv_bytes(rows))
    report = by_row(r.json())
    assert report[2]["outcome"] == "created"
    assert report[3]["errors"] == [
        {"field": "area_code", "code": "unknown_area", "message": "no such village in your area"}
    ]
    assert report[4]["outcome"] == "invalid"


async def test_director_may_not_import_red_children(client, world):
    header = ["姓名", "性别", "出生日期", "村代码", "风险等级"]
    rows = [["甲", "男", "2014-06-01", VILLAGE, "红色"]]
    r = await upload(client, world["director"].headers, csv_bytes(rows, header))
    assert r.json()["rows"][0]["errors"][0]["field"] == "risk_level"
    assert r.json()["rows"][0]["errors"][0]["code"] == "risk_level_not_allowed"


async def test_who_may_import(client, world, session, settings):
    content = csv_bytes([["甲", "男", idn(B1, 21), "2014-06-01", VILLAGE, "", "", "", "", "", ""]])
    for actor in ("reporter", "auditor", "admin"):
        r = await upload(client, world[actor].headers, content)
        assert r.status_code == 403, actor
        assert r.json()["code"] == "role_forbidden"
    reader = await seed_client(session, settings, scopes=["children:read"], area=COUNTY)
    r = await upload(client, reader.headers, content)
    assert r.status_code == 403 and r.json()["missing_scope"] == "children:write"
    # A client outside the area: the row is not created, and nothing says whether it exists.
    outside = await seed_client(
        session, settings, scopes=["children:write"], area=VILLAGE_OTHER_TOWNSHIP
    )
    r = await upload(client, outside.headers, content)
    assert r.status_code == 200 and r.json()["rows"][0]["errors"][0]["code"] == "unknown_area"
    writer = await seed_client(session, settings, scopes=["children:write"], area=COUNTY)
    r = await upload(client, writer.headers, content)
    assert r.status_code == 200 and r.json()["created"] == 1
    child = await session.get(Child, r.json()["rows"][0]["child_id"])
    assert child is not None and child.created_by is None  # made by a client, not a user
    # The director of the same village sees the duplicate by id; the other village's does not.
    r = await upload(client, world["director"].headers, content)
    assert r.json()["rows"][0]["existing_child_id"] == str(child.id)
    r = await upload(client, world["director_other_township"].headers, content)
    assert r.json()["rows"][0]["outcome"] == "invalid"  # their rows must be in their village


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 422, "empty_file"),
        ("姓名,性别\n甲,男\n".encode(), 422, "missing_columns"),
        ("姓名,姓名,村代码\n甲,乙,1\n".encode(), 422, "duplicate_column"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, 415, "unsupported_file_type"),
        (b"\x00\x01\x02binary", 415, "unsupported_file_type"),
        (b"PK\x03\x04 not really a zip", 422, "bad_workbook"),
        (_zip({"hello.txt": b"not a workbook"}), 422, "bad_workbook"),
        (_zip({"[Content_Types].xml": b"<Types"}), 422, "bad_workbook"),
        (b"\xff\xfe\xfa\xfb\xfc" * 3, 422, "bad_encoding"),
    ],
)
async def test_bad_files(client, world, content, status, code):
    r = await upload(client, world["director"].headers, content)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    if status == 422:
        assert r.json()["errors"][0]["field"] == "file"


async def test_a_workbook_that_unpacks_too_far_is_refused(client, world, monkeypatch):
    from childprotect_api.services.children import import_file as child_import_file

    monkeypatch.setattr(child_import_file, "MAX_XLSX_UNPACKED", 1000)
    content = xlsx_bytes([["甲", "男", "", "2014-06-01", VILLAGE]])
    r = await upload(client, world["director"].headers, content, name="a.xlsx")
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"


async def test_missing_file_and_bad_query(client, world):
    r = await client.post(IMPORT, headers=world["director"].headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = await client.post(
        IMPORT,
        params={"dry_run": "maybe"},
        files={"file": ("a.csv", b"x", "text/csv")},
        headers=world["director"].headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "dry_run"


async def test_too_large_and_rate_limited(client, world, settings):
    settings.max_upload_bytes = 100
    r = await upload(client, world["director"].headers, b"a" * 101)
    assert r.status_code == 413
    settings.max_upload_bytes = 10 * 1024 * 1024
    settings.rate_limits = {**settings.rate_limits, "import": 2}
    content = csv_bytes([])
    assert (await upload(client, world["officer"].headers, content)).status_code == 200
    assert (await upload(client, world["officer"].headers, content)).status_code == 200
    r = await upload(client, world["officer"].headers, content)
    assert r.status_code == 429 and "retry-after" in r.headers


# --- large files run as jobs ------------------------------------------------------------


def big_file(n: int, *, bad_every: int = 0) -> bytes:
    rows = []
    for i in range(n):
        born = date(2010, 1, 1) + timedelta(days=i * 3)
        gender = "male" if i % 2 else "female"
        number = idn(born, i, gender)
        if bad_every and i % bad_every == 0:
            number = number[:-1] + ("0" if number[-1] != "0" else "1")
        rows.append(
            [f"儿童{i}", "男" if i % 2 else "女", number, born.isoformat(), VILLAGE] + [""] * 6
        )
    return csv_bytes(rows)


async def wait_for(client, headers, job_id: str) -> tuple[dict[str, Any], list[int]]:
    seen: list[int] = []
    for _ in range(600):
        r = await client.get(f"/api/v1/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        seen.append(job["processed"])
        if job["status"] in ("done", "failed"):
            return job, seen
        await asyncio.sleep(0.1)
    raise AssertionError("the job did not finish")


async def test_a_large_file_runs_as_a_job(client, world, session, settings):
    before = await count_children(session)
    officer = world["officer"].headers
    r = await upload(client, officer, big_file(600, bad_every=50))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["total"] == 600
    assert job["report"] is None and r.headers["location"] == f"/api/v1/jobs/{job['id']}"
    done, seen = await wait_for(client, officer, job["id"])
    assert done["status"] == "done", done
    assert seen == sorted(seen)  # progress only moves forward
    assert any(0 < p < 600 for p in seen)  # and shows on the way (every 100 rows)
    assert (done["processed"], done["created"], done["invalid"], done["duplicates"]) == (
        600,
        588,
        12,
        0,
    )
    assert done["finished_at"] and done["report"]["total"] == 600
    assert {r["row"] for r in done["report"]["rows"] if r["outcome"] == "invalid"} == {
        2 + i for i in range(0, 600, 50)
    }
    assert await count_children(session) == before + 588
    assert "儿童1" not in json.dumps(done, ensure_ascii=False)


async def test_job_access_and_dry_run_job(client, world, session, settings):
    settings.import_sync_max_rows = 5
    director = world["director"].headers
    r = await upload(client, director, big_file(12), dry_run=True)
    assert r.status_code == 202
    job_id = r.json()["id"]
    done, _ = await wait_for(client, director, job_id)
    assert done["dry_run"] is True and done["created"] == 12
    assert all(row["child_id"] is None for row in done["report"]["rows"])
    assert await count_children(session) == 0
    url = f"/api/v1/jobs/{job_id}"
    # The county officer of the area may follow it; nobody else in it or outside.
    assert (await client.get(url, headers=world["officer"].headers)).status_code == 200
    for actor in (
        "director_other_village",
        "supervisor",
        "officer_other_county",
        "supervisor_other_county",
    ):
        r = await client.get(url, headers=world[actor].headers)
        assert r.status_code == 404, actor
    for actor in ("reporter", "auditor", "admin"):
        assert (await client.get(url, headers=world[actor].headers)).status_code == 403
    writer = await seed_client(session, settings, scopes=["children:write"], area=COUNTY)
    assert (await client.get(url, headers=writer.headers)).status_code == 404
    r = await client.get("/api/v1/jobs/not-a-uuid", headers=director)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "job_id"


async def test_a_client_follows_its_own_job(client, world, session, settings):
    settings.import_sync_max_rows = 5
    writer = await seed_client(session, settings, scopes=["children:write"], area=COUNTY)
    r = await upload(client, writer.headers, big_file(8))
    assert r.status_code == 202
    done, _ = await wait_for(client, writer.headers, r.json()["id"])
    assert done["status"] == "done" and done["created"] == 8
    assert done["actor_type"] == "client" and done["actor_id"] == writer.id
    other = await seed_client(session, settings, scopes=["children:write"], area=COUNTY)
    assert (
        await client.get(f"/api/v1/jobs/{done['id']}", headers=other.headers)
    ).status_code == 404


async def test_a_job_that_breaks_is_marked_failed(client, world, session, settings, monkeypatch):
    from childprotect_api.services.children.bulk_import import ImportRun

    settings.import_sync_max_rows = 5
    original = ImportRun.add

    async def add(self, session, parsed):  # type: ignore[no-untyped-def]
        if parsed.row == 5:
            raise RuntimeError("boom: 王小明 620722...")  # messages never reach the job
        return await original(self, session, parsed)

    monkeypatch.setattr(ImportRun, "add", add)
    r = await upload(client, world["officer"].headers, big_file(8))
    done, _ = await wait_for(client, world["officer"].headers, r.json()["id"])
    assert done["status"] == "failed" and done["finished_at"]
    assert done["error"] == "internal error (RuntimeError)"
    assert done["report"] is None


async def test_stopping_the_app_marks_running_jobs_interrupted(
    client, app, world, settings, monkeypatch
):
    from childprotect_api.core import jobs
    from childprotect_api.services.children.bulk_import import ImportRun

    settings.import_sync_max_rows = 5
    started = asyncio.Event()

    async def add(self, session, parsed):  # type: ignore[no-untyped-def]
        started.set()
        await asyncio.sleep(60)

    monkeypatch.setattr(ImportRun, "add", add)
    r = await upload(client, world["officer"].headers, big_file(8))
    await asyncio.wait_for(started.wait(), 10)
    await jobs.stop_all(app.state)
    job = (
        await client.get(f"/api/v1/jobs/{r.json()['id']}", headers=world["officer"].headers)
    ).json()
    assert job["status"] == "failed" and job["error"] == "interrupted: the server stopped"
