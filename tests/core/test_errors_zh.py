"""Chinese problems (DESIGN.md "API conventions", issue #19): `Accept-Language: zh-CN` answers
Chinese `title`, `detail` and field `message`s for every problem code the API raises; field
errors carry a machine `type`; English stays the default."""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path

import pytest

import childprotect_api
from childprotect_api.core import errors as core_errors
from childprotect_api.core.errors_zh import FIELD_TYPES, PROBLEMS
from childprotect_api.core.locale import CHINESE, ENGLISH, negotiate
from tests.conftest import VILLAGE

CJK = re.compile(r"[\u4e00-\u9fff]")
SOURCE = Path(childprotect_api.__file__).parent
ZH = {"Accept-Language": "zh-CN"}


def raised_codes() -> dict[str, str]:
    """Every problem code written in src/: `code="..."` arguments, `code = "..."` class
    attributes, `"code": "..."` in hand-built bodies, and the HTTP status codes' names;
    each with the file it was found in."""
    found: dict[str, str] = {}
    for path in SOURCE.rglob("*.py"):
        where = str(path.relative_to(SOURCE))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                values += [kw.value for kw in node.keywords if kw.arg == "code"]
            elif isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets):
                    values.append(node.value)
            elif isinstance(node, ast.Dict):
                values += [
                    v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "code"
                ]
            for v in values:
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    found.setdefault(v.value, where)
    for code in core_errors._HTTP_CODES.values():
        found.setdefault(code, "core/errors.py")
    return found


def test_every_raised_code_has_a_chinese_title_and_detail():
    codes = raised_codes()
    assert len(codes) > 120  # the walk finds them (not an empty pass)
    assert {"child_not_found", "invalid_id_number", "database_busy", "not_ready"} <= set(codes)
    missing = {code: where for code, where in codes.items() if code not in PROBLEMS}
    assert missing == {}
    for code, (title, detail) in PROBLEMS.items():
        assert CJK.search(title) and CJK.search(detail), code


def test_every_field_type_reads_chinese():
    for kind, message in FIELD_TYPES.items():
        assert CJK.search(message), kind


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, ENGLISH),
        ("", ENGLISH),
        ("zh-CN", CHINESE),
        ("zh", CHINESE),
        ("zh-Hans", CHINESE),
        ("zh-Hans-CN,zh;q=0.9", CHINESE),
        ("ZH-cn", CHINESE),
        ("en-US,en;q=0.9,zh-CN;q=0.8", ENGLISH),
        ("en;q=0.5, zh-CN;q=0.8", CHINESE),
        ("fr-FR, zh;q=0.7", CHINESE),
        ("zh;q=0, en", ENGLISH),
        ("zh-CN;q=abc", ENGLISH),
        ("fr, de", ENGLISH),
        ("*", ENGLISH),
    ],
)
def test_negotiation(header, language):
    assert negotiate(header) == language


def _chinese(r) -> None:  # type: ignore[no-untyped-def]
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert r.headers["content-language"] == "zh-CN"
    body = r.json()
    assert CJK.search(body["title"]) and CJK.search(body["detail"] or ""), body
    for error in body["errors"]:
        assert CJK.search(error["message"]), error
        assert error["type"], error


async def test_representative_problems_answer_in_chinese(client, world):
    director = {**world["director"].headers, **ZH}
    # 401, 404, 405
    r = await client.get("/api/v1/children", headers=ZH)
    assert r.status_code == 401 and r.json()["title"] == "未登录"
    _chinese(r)
    r = await client.get(f"/api/v1/children/{uuid.uuid4()}", headers=director)
    assert r.status_code == 404
    _chinese(r)
    r = await client.patch("/api/v1/children/lookup", headers=ZH)
    assert r.status_code == 405 and r.json()["title"] == "不支持的请求方法"
    _chinese(r)
    # 422 from pydantic: the messages with their context, and a machine type each
    r = await client.post("/api/v1/children", json={"name": ""}, headers=director)
    assert r.status_code == 422
    _chinese(r)
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert errors["gender"]["type"] == "missing" and errors["gender"]["message"] == "必填项"
    assert errors["name"]["type"] == "string_too_short"
    assert errors["name"]["message"] == "长度至少 1 个字符"
    r = await client.get("/api/v1/children", params={"risk_level": "purple"}, headers=director)
    assert r.status_code == 422
    _chinese(r)
    assert r.json()["errors"][0]["type"] == "enum"
    assert "blue" in r.json()["errors"][0]["message"]
    # 422 of our own codes
    r = await client.get(
        "/api/v1/reports", params={"since": "0.5"}, headers=world["officer"].headers | ZH
    )
    assert r.status_code == 422
    _chinese(r)
    assert r.json()["errors"][0]["type"] == "datetime_iso_required"
    body = {
        "name": "王小明",
        "gender": "male",
        "birth_date": "2015-03-14",
        "area_code": VILLAGE,
        "categories": ["left_behind"],
        "id_number": "620722201503140000",
    }
    r = await client.post("/api/v1/children", json=body, headers=director)
    assert r.status_code == 422 and r.json()["code"] == "invalid_id_number", r.text
    _chinese(r)
    assert r.json()["title"] == PROBLEMS["invalid_id_number"][0]
    assert r.json()["errors"][0]["type"] == "invalid_id_number"
    # the input guard's own 422, before any route
    r = await client.get("/api/v1/children", params={"q": "a\u0000b"}, headers=director)
    assert r.status_code == 422
    _chinese(r)
    assert r.json()["errors"][0]["type"] == "nul_character"
    # 403 of a role
    r = await client.get("/api/v1/audit", headers={**world["director"].headers, **ZH})
    if r.status_code == 403:
        _chinese(r)


async def test_english_stays_the_default(client, world):
    r = await client.post("/api/v1/children", json={"name": ""}, headers=world["director"].headers)
    assert r.status_code == 422
    assert r.headers["content-language"] == "en"
    body = r.json()
    assert body["title"] == "Validation error" and not CJK.search(r.text)
    assert {e["type"] for e in body["errors"]} >= {"missing", "string_too_short"}
    en = {**world["director"].headers, "Accept-Language": "en-GB,zh;q=0.5"}
    r = await client.get(f"/api/v1/children/{uuid.uuid4()}", headers=en)
    assert r.status_code == 404 and r.headers["content-language"] == "en"
    assert not CJK.search(r.json()["title"])
    # Answers that are not problems carry no language of their own.
    r = await client.get("/healthz", headers=ZH)
    assert "content-language" not in r.headers


async def test_a_rejected_push_item_answers_in_chinese(client, world):
    operation = {
        "op": "create_child",
        "client_id": str(uuid.uuid4()),
        "id": str(uuid.uuid4()),
        "data": {"name": "", "area_code": VILLAGE},
    }
    r = await client.post(
        "/api/v1/sync/push",
        json={"operations": [operation]},
        headers={**world["director"].headers, **ZH},
    )
    assert r.status_code == 200, r.text
    problem = r.json()["results"][0]["problem"]
    assert CJK.search(problem["title"]) and CJK.search(problem["detail"]), problem
    assert problem["errors"] and all(CJK.search(e["message"]) for e in problem["errors"])
    assert "string_too_short" in {e["type"] for e in problem["errors"]}
