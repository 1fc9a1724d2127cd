"""Demo agreements for the demo county: one in every state (active, active and ending within
30 days, draft half-signed, draft awaiting the township, expired, terminated), and left-behind
children with none, so the follow-up lists have something to show.

Uses the demo county's left-behind children with a parent working away when the children
module has made them; otherwise makes a handful here. Idempotent: nothing is added when the
first demo agreement exists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import get_settings
from childprotect_api.core import client_ids
from childprotect_api.models.agreement import (
    Agreement,
    AgreementStatus,
    AgreementStatusChange,
    ChecklistItem,
)
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.user import User
from childprotect_api.security.scope import Scope
from childprotect_api.services.agreements.expiry import china_today
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.rules import CHINA_TZ
from childprotect_api.services.children.schedule import refresh_due
from childprotect_api.services.demo.county import DEMO_COUNTY, DEMO_VILLAGE

_NS = uuid.UUID("5b7f3f1e-5a52-4c55-9d7e-0c1a7f2a0005")
_VILLAGE_2 = "620722100002"


@dataclass(frozen=True)
class _Scenario:
    status: str
    ends_in_days: int
    signed: tuple[str, ...]  # parties that have signed
    confirmed: int  # how many checklist items are confirmed
    termination: str | None = None


_ALL_PARTIES = ("guardian", "caregiver", "village_committee", "township")
SCENARIOS = [
    _Scenario("active", 300, _ALL_PARTIES, 9),
    _Scenario("active", 12, _ALL_PARTIES, 9),  # ending soon: in the follow-up list
    _Scenario("active", 25, _ALL_PARTIES, 9),
    _Scenario("draft", 365, ("guardian", "caregiver"), 5),
    _Scenario("draft", 365, ("guardian", "caregiver", "village_committee"), 9),
    _Scenario("expired", -20, _ALL_PARTIES, 9),  # the child is a gap again
    _Scenario("terminated", 200, _ALL_PARTIES, 9, termination="parent_returned"),
]
GAP_CHILDREN = 2  # left-behind children with no agreement at all

# name, gender, birth date, village, father's work place
_DEMO_CHILDREN = [
    ("张子涵", "female", date(2014, 5, 3), DEMO_VILLAGE, "浙江省宁波市"),
    ("李浩然", "male", date(2013, 9, 21), DEMO_VILLAGE, "广东省东莞市"),
    ("王雨桐", "female", date(2016, 2, 11), DEMO_VILLAGE, "新疆维吾尔自治区乌鲁木齐市"),
    ("赵宇轩", "male", date(2012, 11, 30), DEMO_VILLAGE, "江苏省苏州市"),
    ("刘欣怡", "female", date(2015, 7, 8), _VILLAGE_2, "甘肃省兰州市"),
    ("陈俊杰", "male", date(2011, 4, 17), _VILLAGE_2, "陕西省西安市"),
    ("杨梓萱", "female", date(2017, 1, 25), DEMO_VILLAGE, "内蒙古自治区鄂尔多斯市"),
    ("马文博", "male", date(2014, 12, 2), _VILLAGE_2, "宁夏回族自治区银川市"),
    ("周诗琪", "female", date(2013, 3, 19), DEMO_VILLAGE, "广东省深圳市"),
]
_CAREGIVERS = [("李桂兰", "female"), ("张德福", "male"), ("王秀珍", "female"), ("赵玉英", "female")]


def _id(kind: str, i: int) -> uuid.UUID:
    return uuid.uuid5(_NS, f"{kind}-{i}")


async def _free_id_number(session: AsyncSession, data_key: str, born: date, gender: str) -> str:
    """A valid ID number no child has yet (the registry is one child, one record)."""
    for seq in range(1, 500):
        number = id_numbers.make(DEMO_COUNTY, born, seq, gender)
        taken = await session.execute(
            select(col(Child.id)).where(
                col(Child.id_number_hash) == id_numbers.hash_of(data_key, number)
            )
        )
        if taken.first() is None:
            return number
    raise RuntimeError("no free demo ID number")


async def _eligible_children(session: AsyncSession) -> list[Child]:
    away = "working_away"
    stmt = (
        select(Child)
        .where(
            col(Child.county_code) == DEMO_COUNTY,
            col(Child.status) == "active",
            col(Child.categories).contains(["left_behind"]),
            or_(
                col(Child.father)["situation"].astext == away,
                col(Child.mother)["situation"].astext == away,
            ),
        )
        .order_by(col(Child.area_code), col(Child.id))
    )
    return list((await session.execute(stmt)).scalars())


async def _make_children(session: AsyncSession, data_key: str) -> None:
    for i, (name, gender, born, village, work_place) in enumerate(_DEMO_CHILDREN):
        child_id = _id("child", i)
        if await session.get(Child, child_id) is not None:
            continue
        p = id_numbers.protect(data_key, await _free_id_number(session, data_key, born, gender))
        child = Child(
            id=child_id,
            county_code=village[:6],
            area_code=village,
            name=name,
            gender=gender,
            birth_date=born,
            ethnicity="回族" if name.startswith("马") else "汉族",
            id_number_enc=p.encrypted,
            id_number_hash=p.hash,
            id_number_masked=p.masked,
            address=f"{'洪水村' if village == DEMO_VILLAGE else '益民村'}{i + 1}社",
            categories=["left_behind"],
            father={
                "situation": "working_away",
                "work_place": work_place,
                "away_since": "2022-03-01",
            },
            mother={"situation": "working_away" if i % 3 == 0 else "at_home"},
            school="洪水镇中心小学",
        )
        session.add(child)
        await session.flush()
        await session.refresh(child)
        await refresh_due(session, child)
    await session.flush()


async def _users(session: AsyncSession) -> dict[str, User]:
    rows = await session.execute(
        select(User).where(
            col(User.username).in_(
                ["demo_director", "demo_director2", "demo_township", "demo_county"]
            )
        )
    )
    return {u.username: u for u in rows.scalars()}


def _signers(users: dict[str, User], area_code: str) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(village signer and witness, township signer): the village's director and the
    township supervisor when they cover the child, the county officer otherwise."""

    def covers(username: str) -> bool:
        u = users.get(username)
        return u is not None and Scope("user", u.id, u.role, u.area_code or "").covers(area_code)

    county = users["demo_county"].id if "demo_county" in users else None
    village = next((users[n].id for n in ("demo_director", "demo_director2") if covers(n)), county)
    township = users["demo_township"].id if covers("demo_township") else county
    return village, township


def _agreement(
    i: int, s: _Scenario, child: Child, data_key: str, users: dict[str, User]
) -> Agreement:
    today = china_today()
    ends = today + timedelta(days=s.ends_in_days)
    starts = ends - timedelta(days=365)
    caregiver_name, caregiver_gender = _CAREGIVERS[i % len(_CAREGIVERS)]
    caregiver = id_numbers.make(
        DEMO_COUNTY, date(1958 + i, 3 + i, 10 + i), 600 + i, caregiver_gender
    )
    guardian = id_numbers.make(DEMO_COUNTY, date(1986, 1 + i, 5), 700 + i, "male")
    c, g = id_numbers.protect(data_key, caregiver), id_numbers.protect(data_key, guardian)
    village_signer, township_signer = _signers(users, child.area_code)
    signed_on = starts - timedelta(days=3)
    at = utcnow().isoformat()
    checklist = {
        item.value: {"confirmed": True, "by": str(village_signer), "at": at}
        for item in list(ChecklistItem)[: s.confirmed]
    }
    father = child.father or {}
    a = Agreement(
        id=_id("agreement", i),
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        guardian_name=child.name[0] + "建军",
        guardian_relation="father",
        guardian_phone=f"1370000{1000 + i}",
        guardian_id_number_enc=g.encrypted,
        guardian_id_number_hash=g.hash,
        guardian_id_number_masked=g.masked,
        guardian_work_place=father.get("work_place"),
        guardian_away_since=date(2022, 3, 1),
        caregiver_name=caregiver_name,
        caregiver_relation="paternal_grandparent" if i % 2 == 0 else "maternal_grandparent",
        caregiver_phone=f"1390000{2000 + i}",
        caregiver_id_number_enc=c.encrypted,
        caregiver_id_number_hash=c.hash,
        caregiver_id_number_masked=c.masked,
        caregiver_birth_date=id_numbers.parse(caregiver).birth_date,
        caregiver_address=child.address,
        checklist=checklist,
        school_notified_on=signed_on,
        village_committee_notified_on=signed_on,
        times_per_week_child=2 + i % 2,
        times_per_week_caregiver=1,
        starts_on=starts,
        ends_on=ends,
        status=s.status,
        create_fingerprint="demo",
        created_by=village_signer,
        updated_by=village_signer,
    )
    for party in s.signed:
        setattr(a, f"{party}_signed_on", signed_on)
        by = township_signer if party == "township" else village_signer
        setattr(
            a,
            f"{party}_{'witnessed_by' if party in ('guardian', 'caregiver') else 'signed_by'}",
            by,
        )
    if s.status != AgreementStatus.draft:
        a.activated_at = datetime.combine(signed_on, time(10), tzinfo=CHINA_TZ)
    if s.termination:
        a.termination_reason = s.termination
        a.termination_note = "父亲返乡务农,恢复亲自监护"
        a.terminated_at = utcnow()
        a.terminated_by = township_signer
    return a


def _history(a: Agreement, s: _Scenario) -> list[AgreementStatusChange]:
    steps: list[tuple[str | None, str, str | None]] = [(None, "draft", None)]
    if s.status != AgreementStatus.draft:
        steps.append(("draft", "active", "all_parties_signed"))
    if s.status == AgreementStatus.expired:
        steps.append(("active", "expired", "ends_on_passed"))
    if s.status == AgreementStatus.terminated:
        steps.append(("active", "terminated", s.termination))
    return [
        AgreementStatusChange(
            agreement_id=a.id,
            county_code=a.county_code,
            area_code=a.area_code,
            old_status=old,
            new_status=new,
            reason=reason,
            changed_by=a.created_by if new != "expired" else None,
        )
        for old, new, reason in steps
    ]


@client_ids.trusted  # UUIDv5 ids made here (core/client_ids.py)
async def load(session: AsyncSession) -> None:
    if await session.get(Agreement, _id("agreement", 0)) is not None:
        return
    data_key = get_settings().data_key
    children = await _eligible_children(session)
    if len(children) < len(SCENARIOS) + GAP_CHILDREN:
        await _make_children(session, data_key)
        children = await _eligible_children(session)
    users = await _users(session)
    for i, (scenario, child) in enumerate(zip(SCENARIOS, children, strict=False)):
        agreement = _agreement(i, scenario, child, data_key, users)
        session.add(agreement)
        await session.flush()
        session.add_all(_history(agreement, scenario))
    await session.flush()
