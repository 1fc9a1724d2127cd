"""Demo children for the demo county (民乐县): a few hundred made-up but realistic records
spread over the demo villages, with valid ID numbers (correct check digits), every category,
risk level, parent situation and enrolment status, schools that fit the child's age, and
subsidies that fit the category. Deterministic ids make loading idempotent."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import get_settings
from childprotect_api.core import client_ids
from childprotect_api.models.area import Area, AreaLevel
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child, ChildRiskChange
from childprotect_api.models.user import User
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.rules import today, years_before
from childprotect_api.services.children.schedule import compute_next_due, intervals_for
from childprotect_api.services.demo.county import DEMO_AREAS

COUNT = 320
_NAMESPACE = uuid.UUID("0b0c6a52-5a0e-4d5e-9a57-6d656d6f6368")
# Villages and how many of the children live in each (the first village is the busiest).
_WEIGHTS = {"620722100001": 4}

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜叶程"
GIVEN = {
    "male": "浩然 子轩 宇航 俊杰 志强 明辉 家乐 天佑 博文 永福 鑫 磊 鹏 涛 晨阳 思远 嘉豪 文博",
    "female": "欣怡 梓涵 雨桐 佳怡 诗琪 婷婷 雅琴 丽娟 晓燕 梦瑶 静 敏 娜 芳 慧 玉兰 春花 欢欢",
}
WORK_PLACES = ["浙江省宁波市", "广东省东莞市", "新疆乌鲁木齐市", "江苏省苏州市", "甘肃省兰州市"]
PRIMARY = {
    "620722100": "洪水镇中心小学",
    "620722101": "六坝镇中心小学",
    "620722102": "新天镇中心小学",
}


@dataclass(frozen=True)
class Profile:
    categories: tuple[str, ...]
    father: str
    mother: str
    income: str
    subsidies: tuple[str, ...] = ()
    min_age: int = 1
    max_age: int = 17
    note: str | None = None


PROFILES = [
    Profile(("left_behind",), "working_away", "working_away", "务工收入", max_age=15),
    Profile(
        ("left_behind", "low_income"),
        "working_away",
        "seriously_ill_or_disabled",
        "务工收入、低保金",
        ("minimum_living_allowance",),
        max_age=15,
    ),
    Profile(
        ("in_difficulty", "orphan"), "deceased", "deceased", "孤儿基本生活费", ("orphan_allowance",)
    ),
    Profile(
        ("in_difficulty", "de_facto_unsupported", "parent_imprisoned"),
        "imprisoned",
        "missing",
        "亲属接济",
        ("de_facto_unsupported_allowance",),
    ),
    Profile(
        ("in_difficulty", "low_income_disabled_or_ill", "disabled"),
        "at_home",
        "at_home",
        "低保金、务农",
        ("minimum_living_allowance", "disability_allowance"),
        note="脑瘫，肢体二级残疾，需长期康复训练",
    ),
    Profile(
        ("in_difficulty", "low_income"),
        "seriously_ill_or_disabled",
        "at_home",
        "低保金",
        ("minimum_living_allowance",),
    ),
    Profile(("migrant",), "at_home", "at_home", "务工收入", min_age=3),
    Profile(
        ("dropout_risk", "left_behind"),
        "working_away",
        "working_away",
        "务工收入",
        min_age=13,
        max_age=15,
    ),
    Profile(("serious_misconduct",), "working_away", "compulsory_rehab", "务工收入", min_age=13),
    Profile(("street",), "unknown", "unknown", "无固定来源", min_age=12),
    Profile(("parent_imprisoned",), "imprisoned", "at_home", "务农", ("education_aid",)),
    Profile(
        ("in_difficulty", "de_facto_unsupported"),
        "deceased",
        "compulsory_rehab",
        "亲属接济",
        ("de_facto_unsupported_allowance",),
    ),
    # DESIGN.md "Terms": 闲散未成年人 (16-17, neither in school nor working) and the newer
    # parent situations.
    Profile(("idle_youth",), "divorced", "working_away", "打零工", min_age=16, max_age=17),
    Profile(
        ("in_difficulty", "de_facto_unsupported"),
        "restricted_liberty",
        "guardianship_revoked",
        "亲属接济",
        ("de_facto_unsupported_allowance",),
    ),
    Profile(("in_difficulty",), "deported", "at_home", "务农"),
]

RISK_REASONS = {
    "yellow": "祖辈监护，照料能力有限",
    "orange": "监护人长期卧病，孩子情绪低落",
    "red": "疑似遭受家庭暴力，已报告派出所",
}


def _risk(i: int) -> str:
    slot = i % 20
    return "blue" if slot < 10 else "yellow" if slot < 16 else "orange" if slot < 19 else "red"


def _schooling(age: int, township: str, dropout: bool) -> dict[str, Any]:
    if age < 3:
        return {"enrolment_status": "preschool"}
    if age < 6:
        return {
            "enrolment_status": "kindergarten",
            "school": township_name(township) + "中心幼儿园",
        }
    if age < 12:
        school, grade, boarding = (
            PRIMARY.get(township, "民乐县城关小学"),
            "一二三四五六"[age - 6] + "年级",
            False,
        )
    elif age < 15:
        school, grade, boarding = "民乐县第二中学", ["初一", "初二", "初三"][age - 12], True
    else:
        school, grade, boarding = "民乐县第一中学", ["高一", "高二", "高三"][age - 15], True
    status = "dropped_out" if dropout else "enrolled"
    return {"enrolment_status": status, "school": school, "grade": grade, "boarding": boarding}


def township_name(code: str) -> str:
    return next((name for c, name, _ in DEMO_AREAS if c == code), "民乐县")


def _parent(situation: str, rng: random.Random, since: date) -> dict[str, Any]:
    parent: dict[str, Any] = {"situation": situation}
    if situation == "working_away":
        parent["work_place"] = rng.choice(WORK_PLACES)
        parent["away_since"] = since.isoformat()
    return parent


@client_ids.trusted  # UUIDv5 ids made here (core/client_ids.py)
async def load(session: AsyncSession) -> None:
    villages = list(
        (
            await session.execute(
                select(col(Area.code), col(Area.name)).where(
                    col(Area.level) == AreaLevel.village, col(Area.code).startswith("620722")
                )
            )
        ).all()
    )
    if not villages:
        return
    slots = [v for v in villages for _ in range(_WEIGHTS.get(v[0], 1))]
    ids = [uuid.uuid5(_NAMESPACE, f"demo-child-{i}") for i in range(COUNT)]
    existing = set(
        (await session.execute(select(col(Child.id)).where(col(Child.id).in_(ids)))).scalars()
    )
    directors = {
        u.area_code: u.id
        for u in (
            await session.execute(select(User).where(col(User.username).like("demo_%")))
        ).scalars()
        if u.role in ("village_director", "township_supervisor")
    }
    intervals = await intervals_for(session, "620722")
    key = get_settings().data_key
    day = today()
    for i, child_id in enumerate(ids):
        if child_id in existing:
            continue
        village, village_name = slots[i % len(slots)]
        child = _make(i, child_id, village, village_name, day, key, directors, intervals)
        session.add(child)
        session.add(
            ChildRiskChange(
                child_id=child.id,
                county_code=child.county_code,
                area_code=child.area_code,
                new_level=child.risk_level,
                reason=child.risk_reason or "摸排登记",
                set_by=child.created_by,
            )
        )
    await session.flush()


def _make(
    i: int,
    child_id: uuid.UUID,
    village: str,
    village_name: str,
    day: date,
    data_key: str,
    directors: dict[str | None, uuid.UUID],
    intervals: dict[str, int],
) -> Child:
    rng = random.Random(i)  # noqa: S311  (reproducible made-up data, not secrets)
    profile = PROFILES[i % len(PROFILES)]
    gender = "male" if rng.random() < 0.52 else "female"
    oldest = years_before(day, profile.max_age + 1) + timedelta(days=30)
    youngest = years_before(day, profile.min_age)
    born = oldest + timedelta(days=rng.randrange((youngest - oldest).days))
    age = id_numbers.age_on(born, day)
    number = id_numbers.make("620722", born, i, gender)
    protected = id_numbers.protect(data_key, number)
    risk = _risk(i)
    registered = utcnow() - timedelta(days=rng.randrange(5, 200))
    visited = registered + timedelta(days=rng.randrange(1, 5)) if rng.random() < 0.6 else None
    township = village[:9]
    # The village's director, or the township's supervisor where a village has none.
    director = directors.get(village) or directors.get(village[:9])
    away_since = day - timedelta(days=rng.randrange(200, 2000))
    subsidies = [
        {"kind": kind, "monthly_amount": rng.choice([380, 520, 1100, 1200]), "from": "2024-01-01"}
        for kind in profile.subsidies
    ]
    return Child(
        id=child_id,
        county_code=village[:6],
        area_code=village,
        name=rng.choice(SURNAMES) + rng.choice(GIVEN[gender].split()),
        gender=gender,
        ethnicity="汉族" if rng.random() < 0.9 else rng.choice(["回族", "藏族", "裕固族"]),
        birth_date=born,
        id_number_enc=protected.encrypted,
        id_number_hash=protected.hash,
        id_number_masked=protected.masked,
        household_registration=f"甘肃省张掖市民乐县{township_name(township)}{village_name}",
        residence=f"{township_name(township)}{village_name}",
        address=f"{village_name}{rng.randrange(1, 9)}社{rng.randrange(1, 60)}号",
        categories=list(profile.categories),
        family_situation="与祖父母共同生活" if "left_behind" in profile.categories else None,
        main_income_source=profile.income,
        father=_parent(profile.father, rng, away_since),
        mother=_parent(profile.mother, rng, away_since),
        **(
            {"enrolment_status": "out_of_school"}
            if "idle_youth" in profile.categories
            else _schooling(age, township, "dropout_risk" in profile.categories)
        ),
        disability_notes=profile.note,
        subsidies=subsidies,
        assigned_director_id=director,
        pairing_helper_name="结对帮扶志愿者" + rng.choice("甲乙丙丁")
        if risk in ("orange", "red")
        else None,
        pairing_helper_phone=f"1390000{rng.randrange(1000, 9999)}"
        if risk in ("orange", "red")
        else None,
        risk_level=risk,
        risk_reason=RISK_REASONS.get(risk),
        risk_set_at=registered,
        created_at=registered,
        updated_at=registered,
        created_by=director,
        updated_by=director,
        last_visit_at=visited,
        next_visit_due=compute_next_due(visited, registered, risk, intervals),
    )
