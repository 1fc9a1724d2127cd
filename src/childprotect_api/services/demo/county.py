"""The demo county's areas and one user of every role. Passwords are generated anew at each
load and printed, never stored in the repository."""

from __future__ import annotations

import secrets
import string

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.area import LEVEL_BY_LENGTH, Area
from childprotect_api.models.user import Role, User
from childprotect_api.security.passwords import hash_password

# 甘肃省张掖市民乐县 (codes follow the statistical division pattern; names of villages are
# illustrative).
DEMO_AREAS: list[tuple[str, str, str | None]] = [
    ("62", "甘肃省", None),
    ("6207", "张掖市", "62"),
    ("620722", "民乐县", "6207"),
    ("620722100", "洪水镇", "620722"),
    ("620722100001", "洪水村", "620722100"),
    ("620722100002", "益民村", "620722100"),
    ("620722100003", "里仁村", "620722100"),
    ("620722101", "六坝镇", "620722"),
    ("620722101001", "六坝村", "620722101"),
    ("620722101002", "海潮坝村", "620722101"),
    ("620722102", "新天镇", "620722"),
    ("620722102001", "新天村", "620722102"),
    ("620722102002", "吴庄村", "620722102"),
    ("620723", "临泽县", "6207"),
    ("620723100", "沙河镇", "620723"),
    ("620723100001", "沙河村", "620723100"),
]

DEMO_COUNTY = "620722"
DEMO_TOWNSHIP = "620722100"
DEMO_VILLAGE = "620722100001"

# username, display name, role, area, phone
DEMO_USERS: list[tuple[str, str, Role, str | None, str]] = [
    ("demo_admin", "系统管理员", Role.admin, "62", "13900000001"),
    ("demo_county", "民乐县民政局 王科长", Role.county_officer, DEMO_COUNTY, "13900000002"),
    (
        "demo_township",
        "洪水镇儿童督导员 李娟",
        Role.township_supervisor,
        DEMO_TOWNSHIP,
        "13900000003",
    ),
    ("demo_director", "洪水村儿童主任 张梅", Role.village_director, DEMO_VILLAGE, "13900000004"),
    ("demo_director2", "益民村儿童主任 刘芳", Role.village_director, "620722100002", "13900000005"),
    ("demo_director3", "六坝村儿童主任 赵强", Role.village_director, "620722101001", "13900000006"),
    ("demo_reporter", "洪水镇中心小学 陈老师", Role.reporter, DEMO_TOWNSHIP, "13900000007"),
    ("demo_auditor", "县人大 监督员", Role.auditor, DEMO_COUNTY, "13900000008"),
]


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "Demo-" + "".join(secrets.choice(alphabet) for _ in range(10))


async def load_areas(session: AsyncSession) -> None:
    existing = set((await session.execute(select(col(Area.code)))).scalars())
    for code, name, parent in DEMO_AREAS:
        if code not in existing:
            session.add(
                Area(code=code, name=name, parent_code=parent, level=LEVEL_BY_LENGTH[len(code)])
            )
    await session.flush()


async def load_users(session: AsyncSession) -> list[tuple[str, str, str, str]]:
    logins = []
    for username, display, role, area, phone in DEMO_USERS:
        password = _password()
        user = (
            await session.execute(select(User).where(col(User.username) == username))
        ).scalar_one_or_none()
        if user is None:
            user = User(
                username=username,
                display_name=display,
                role=role.value,
                area_code=area,
                phone=phone,
                password_hash=hash_password(password),
            )
            session.add(user)
        else:
            user.password_hash = hash_password(password)
            user.is_active = True
        logins.append((username, password, role.value, area or "(all)"))
    await session.flush()
    return logins
