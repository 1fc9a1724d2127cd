"""The demo county's care work ledger (关爱服务台账): sites (a 儿童之家 in most villages, a
未成年人保护工作站 in each township, the county's 家长学校) and a year of activities, about 20
per village (children's-home activities at the village's 儿童之家 naming a few of its
children, safety education, goods with their amounts, care visits ...), the townships' and the
county's own (publicity, joint meetings), trainings naming the directors and supervisors who
attended, and the staff's qualifications (社工证 ...). Deterministic; loading twice makes
nothing twice."""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.activity import Activity, Site
from childprotect_api.models.child import Child
from childprotect_api.models.user import Role, User
from childprotect_api.services.children.rules import today as china_today
from childprotect_api.services.demo.county import DEMO_AREAS, DEMO_COUNTY

_NS = uuid.UUID("0b6f7d0e-21a1-4c55-8f1e-2026c0a1c721")
PER_VILLAGE = 20

# kind, title, organiser, organiser kind, participants range, children served range
_VILLAGE_KINDS: list[tuple[str, str, str, str, tuple[int, int], tuple[int, int]]] = [
    ("children_home_activity", "儿童之家周末课堂", "村儿童之家", "government", (12, 30), (10, 25)),
    ("children_home_activity", "儿童之家课后陪伴", "村儿童之家", "volunteers", (8, 20), (6, 18)),
    ("safety_education", "暑期防溺水安全教育", "镇中心小学", "school", (30, 80), (20, 60)),
    ("care_visit", "走访慰问困境儿童", "村委会", "government", (3, 8), (2, 6)),
    ("goods", "爱心物资发放", "县慈善协会", "social_organisation", (10, 30), (8, 25)),
    ("publicity", "未成年人保护法宣传", "村委会", "government", (40, 150), (10, 40)),
    ("family_education", "家庭教育指导讲座", "家长学校", "school", (20, 50), (5, 20)),
    ("law_education", "法治进校园", "县司法局", "government", (50, 120), (40, 100)),
    ("counselling", "留守儿童心理辅导", "县社工站", "social_organisation", (5, 15), (5, 12)),
    ("school_aid", "爱心助学金发放", "爱心企业", "enterprise", (5, 15), (5, 12)),
]
_NAMING = ("children_home_activity", "care_visit", "counselling", "school_aid")
_GOODS = ("爱心包", "学习用品", "冬衣", "书包文具")


def _id(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(_NS, f"{kind}/{key}")


def _hash(i: uuid.UUID) -> str:
    return hashlib.sha256(i.bytes).hexdigest()


def _county_areas() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    townships = [(c, n) for c, n, _ in DEMO_AREAS if len(c) == 9 and c.startswith(DEMO_COUNTY)]
    villages = [(c, n) for c, n, _ in DEMO_AREAS if len(c) == 12 and c.startswith(DEMO_COUNTY)]
    return townships, villages


def _sites(today: date) -> list[Site]:
    townships, villages = _county_areas()
    out: list[Site] = []
    for i, (code, name) in enumerate(villages):
        if i % 4 != 3:  # most villages have a children's home
            out.append(_site("children_home", code, f"{name}儿童之家", today, 400 + 90 * i))
    for i, (code, name) in enumerate(townships):
        out.append(_site("protection_station", code, f"{name}未成年人保护工作站", today, 300 + i))
    out.append(_site("parent_school", DEMO_COUNTY, "民乐县家长学校", today, 800))
    return out


def _site(kind: str, area: str, name: str, today: date, age: int) -> Site:
    sid = _id("site", area)
    return Site(
        id=sid,
        county_code=area[:6],
        area_code=area,
        kind=kind,
        name=name,
        opened_on=today - timedelta(days=age),
        status="open",
        content_hash=_hash(sid),
    )


def _activity(
    key: str,
    area: str,
    kind: str,
    title: str,
    held_on: date,
    *,
    organiser: str,
    organiser_kind: str,
    participants: int,
    children_served: int,
    place: str | None = None,
    site_id: uuid.UUID | None = None,
    child_ids: list[uuid.UUID] | None = None,
    staff_ids: list[uuid.UUID] | None = None,
    amount: Decimal | None = None,
    goods: str | None = None,
    by: uuid.UUID | None = None,
) -> Activity:
    aid = _id("activity", key)
    return Activity(
        id=aid,
        county_code=area[:6],
        area_code=area,
        kind=kind,
        title=title,
        held_on=held_on,
        place=place,
        site_id=site_id,
        organiser=organiser,
        organiser_kind=organiser_kind,
        participants=participants,
        children_served=children_served,
        child_ids=child_ids or [],
        staff_ids=staff_ids or [],
        amount=amount,
        goods=goods,
        content_hash=_hash(aid),
        created_by=by,
    )


async def load(session: AsyncSession) -> None:
    today = china_today()
    users = list(
        (
            await session.execute(
                select(User).where(col(User.username).like("demo\\_%"), col(User.is_active))
            )
        ).scalars()
    )
    by_name = {u.username: u for u in users}
    # Qualifications (set by the county officer in the app).
    held = {
        "demo_director": ["social_worker"],
        "demo_township": ["social_worker", "psychological_counsellor"],
        "demo_director3": ["teacher"],
    }
    for username, qualifications in held.items():
        if username in by_name and not by_name[username].qualifications:
            by_name[username].qualifications = qualifications
    if await session.get(Activity, _id("activity", f"{DEMO_COUNTY}/meeting/0")) is not None:
        await session.flush()
        return
    sites = _sites(today)
    for site in sites:
        session.add(site)
    await session.flush()
    homes = {s.area_code: s for s in sites if s.kind == "children_home"}
    officer = by_name.get("demo_county")
    by = officer.id if officer else None
    frontline = [
        u
        for u in users
        if u.role in (Role.village_director.value, Role.township_supervisor.value)
        and (u.area_code or "").startswith(DEMO_COUNTY)
    ]
    children: dict[str, list[uuid.UUID]] = {}
    for cid, area in (
        await session.execute(
            select(col(Child.id), col(Child.area_code))
            .where(col(Child.county_code) == DEMO_COUNTY, col(Child.status) == "active")
            .order_by(col(Child.id))
        )
    ).all():
        children.setdefault(area, []).append(cid)
    rng = random.Random(21)  # noqa: S311 (demo figures, not secrets)
    townships, villages = _county_areas()
    for code, name in villages:
        home = homes.get(code)
        for i in range(PER_VILLAGE):
            kind, title, organiser, okind, (p_lo, p_hi), (c_lo, c_hi) = _VILLAGE_KINDS[
                (i + len(code)) % len(_VILLAGE_KINDS)
            ]
            if kind == "children_home_activity" and home is None:
                kind, title, organiser = "publicity", "关爱儿童主题宣传", "村委会"
            served = rng.randint(c_lo, c_hi)
            named = children.get(code, [])
            pick = rng.sample(named, min(len(named), rng.randint(1, 4))) if named else []
            session.add(
                _activity(
                    f"{code}/{i}",
                    code,
                    kind,
                    title,
                    today - timedelta(days=rng.randint(0, 364)),
                    organiser=organiser,
                    organiser_kind=okind,
                    participants=max(rng.randint(p_lo, p_hi), served),
                    children_served=served,
                    place=home.name if kind == "children_home_activity" and home else f"{name}委会",
                    site_id=home.id if kind == "children_home_activity" and home else None,
                    child_ids=pick if kind in _NAMING else [],
                    amount=(
                        Decimal(rng.randint(8, 60) * 100)
                        if kind in ("goods", "school_aid")
                        else None
                    ),
                    goods=f"{rng.choice(_GOODS)}{rng.randint(5, 30)}份"
                    if kind == "goods"
                    else None,
                    by=by,
                )
            )
    # The townships' own: publicity days and a supervisor's training of the directors (one
    # director attends no training all year: the training rate is not 100%).
    frontline = [u for u in frontline if u.username != "demo_director3"]
    for code, name in townships:
        staff = [u.id for u in frontline if (u.area_code or "").startswith(code)]
        for q in range(2):
            session.add(
                _activity(
                    f"{code}/publicity/{q}",
                    code,
                    "publicity",
                    "“六一”未成年人保护宣传周" if q == 0 else "强制报告制度宣传",
                    today - timedelta(days=40 + 170 * q),
                    organiser=f"{name}人民政府",
                    organiser_kind="government",
                    participants=rng.randint(150, 400),
                    children_served=rng.randint(40, 120),
                    place=f"{name}集市",
                )
            )
        if staff:
            session.add(
                _activity(
                    f"{code}/training",
                    code,
                    "training",
                    "儿童主任业务能力提升培训",
                    today - timedelta(days=75),
                    organiser=f"{name}人民政府",
                    organiser_kind="government",
                    participants=len(staff) + 2,
                    children_served=0,
                    place=f"{name}会议室",
                    staff_ids=staff,
                )
            )
    # The county's own: joint meetings each quarter and the yearly training.
    trained = [u.id for u in frontline]
    for q in range(4):
        session.add(
            _activity(
                f"{DEMO_COUNTY}/meeting/{q}",
                DEMO_COUNTY,
                "joint_meeting",
                "未成年人保护工作联席会议(季度研判)",
                today - timedelta(days=10 + 91 * q),
                organiser="民乐县民政局",
                organiser_kind="government",
                participants=rng.randint(15, 25),
                children_served=0,
                place="县民政局会议室",
                by=by,
            )
        )
    session.add(
        _activity(
            f"{DEMO_COUNTY}/training",
            DEMO_COUNTY,
            "training",
            "全县儿童督导员和儿童主任业务培训",
            today - timedelta(days=20),
            organiser="民乐县民政局",
            organiser_kind="government",
            participants=len(trained) + 30,
            children_served=0,
            place="县民政局会议室",
            staff_ids=trained,
            by=by,
        )
    )
    await session.flush()
