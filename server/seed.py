"""Seeding: the demo world (`tongbu demo`), the first admin (`tongbu admin create`), tests.

The demo is a banner (旗) in Inner Mongolia: a main classroom in the banner's
first primary school teaches three village teaching points, some with
Mongolian names; a neighbouring county exists so scope rules have something
to hide. Writes go straight through the models (no HTTP), inside the caller's
session, and passwords are random unless the caller passes them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Passwords
from server.db.models import (
    Classroom,
    ClassroomKind,
    Course,
    Lesson,
    LessonKind,
    OrgUnit,
    Role,
    Rubric,
    UnitLevel,
    User,
    utcnow,
)
from server.errors import NotFound, ValidationFailed


@dataclass(frozen=True)
class Account:
    login: str
    password: str
    role: Role
    user_id: int
    org_unit_id: int


@dataclass
class DemoSeed:
    """Ids of everything `seed_demo` created, and the accounts with their passwords."""

    province_id: int = 0
    city_id: int = 0
    county_id: int = 0
    township_id: int = 0
    main_school_id: int = 0
    village_school_ids: list[int] = field(default_factory=list)
    other_county_id: int = 0
    other_school_id: int = 0
    main_classroom_id: int = 0
    receiving_classroom_ids: list[int] = field(default_factory=list)
    other_classroom_id: int = 0
    course_ids: list[int] = field(default_factory=list)
    rubric_id: int = 0
    lesson_ids: list[int] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)


def random_password() -> str:
    return secrets.token_urlsafe(9)


async def add_unit(
    session: AsyncSession, name: str, level: UnitLevel, parent: OrgUnit | None = None
) -> OrgUnit:
    """Insert a unit and give it its materialized path (needs the id, hence two flushes)."""
    unit = OrgUnit(name=name, level=level, parent_id=parent.id if parent else None, path="")
    session.add(unit)
    await session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    await session.flush()
    return unit


async def add_user(
    session: AsyncSession,
    passwords: Passwords,
    *,
    login: str,
    name: str,
    role: Role,
    unit: OrgUnit,
    password: str | None = None,
) -> Account:
    password = password or random_password()
    user = User(
        login=login,
        display_name=name,
        role=role,
        org_unit_id=unit.id,
        password_hash=await passwords.hash_async(password),
    )
    session.add(user)
    await session.flush()
    return Account(login=login, password=password, role=role, user_id=user.id, org_unit_id=unit.id)


async def seed_demo(
    session: AsyncSession,
    passwords: Passwords,
    *,
    now: datetime | None = None,
    password_for: Callable[[str], str] | None = None,
) -> DemoSeed:
    """Create the demo world and today's lessons (the first one opens in 10 minutes)."""
    now = now or utcnow()
    pw = password_for or (lambda _login: random_password())
    seed = DemoSeed()

    province = await add_unit(session, "内蒙古自治区", UnitLevel.PROVINCE)
    city = await add_unit(session, "锡林郭勒盟", UnitLevel.CITY, province)
    county = await add_unit(session, "正蓝旗", UnitLevel.COUNTY, city)
    township = await add_unit(session, "上都镇", UnitLevel.TOWNSHIP, county)
    main_school = await add_unit(session, "正蓝旗第一小学", UnitLevel.SCHOOL, township)
    villages = [
        await add_unit(session, "上都镇中心小学", UnitLevel.SCHOOL, township),
        await add_unit(session, "乌兰教学点 ᠤᠯᠠᠭᠠᠨ", UnitLevel.SCHOOL, township),
        await add_unit(session, "蒙古族小学 ᠮᠣᠩᠭᠣᠯ ᠰᠤᠷᠭᠠᠭᠤᠯᠢ", UnitLevel.SCHOOL, township),
    ]
    other_county = await add_unit(session, "多伦县", UnitLevel.COUNTY, city)
    other_town = await add_unit(session, "多伦诺尔镇", UnitLevel.TOWNSHIP, other_county)
    other_school = await add_unit(session, "多伦县第二小学", UnitLevel.SCHOOL, other_town)

    main = Classroom(
        school_id=main_school.id, name="主讲教室", kind=ClassroomKind.MAIN, capacity=45
    )
    receivers = [
        Classroom(
            school_id=villages[0].id,
            name="接收教室 一年级",
            kind=ClassroomKind.RECEIVING,
            capacity=20,
        ),
        Classroom(
            school_id=villages[1].id, name="接收教室", kind=ClassroomKind.RECEIVING, capacity=8
        ),
        Classroom(
            school_id=villages[2].id,
            name="接收教室 ᠠᠩᠭᠢ",
            kind=ClassroomKind.RECEIVING,
            capacity=12,
        ),
    ]
    other_room = Classroom(school_id=other_school.id, name="接收教室", kind=ClassroomKind.RECEIVING)
    session.add_all([main, *receivers, other_room])
    await session.flush()

    people = [
        ("admin", "自治区管理员", Role.ADMIN, province),
        ("county_admin", "正蓝旗教育局管理员", Role.ADMIN, county),
        ("other_county_admin", "多伦县教育局管理员", Role.ADMIN, other_county),
        ("teacher", "其其格老师", Role.TEACHER, main_school),
        ("other_teacher", "王老师", Role.TEACHER, other_school),
        ("evaluator", "巴特尔 (评课专家)", Role.EVALUATOR, county),
        ("researcher", "教研员 萨仁", Role.RESEARCHER, main_school),
    ]
    for login, name, role, unit in people:
        seed.accounts[login] = await add_user(
            session, passwords, login=login, name=name, role=role, unit=unit, password=pw(login)
        )

    courses = [
        Course(school_id=main_school.id, name="三年级数学", subject="数学", grade="三年级"),
        Course(school_id=main_school.id, name="三年级音乐", subject="音乐", grade="三年级"),
        Course(
            school_id=main_school.id,
            name="蒙古语文 ᠮᠣᠩᠭᠣᠯ ᠬᠡᠯᠡ",
            subject="蒙古语文",
            grade="三年级",
        ),
    ]
    session.add_all(courses)
    # The banner's own rubric (rubrics per unit); the default one comes from migration 0006.
    rubric = Rubric(
        name="课堂教学评价表",
        org_unit_id=county.id,
        criteria=[
            {"key": "goals", "label": "教学目标", "max": 20},
            {"key": "interaction", "label": "主讲与接收课堂互动", "max": 30},
            {"key": "media", "label": "音视频与课件效果", "max": 20},
            {"key": "outcome", "label": "学习效果", "max": 30},
        ],
    )
    session.add(rubric)
    await session.flush()

    teacher_id = seed.accounts["teacher"].user_id
    first = now.replace(second=0, microsecond=0) + timedelta(minutes=10)
    lessons = []
    for i, course in enumerate([courses[0], courses[2], courses[1]]):
        start = first + timedelta(minutes=70 * i)
        lessons.append(
            Lesson(
                title=course.name,
                kind=LessonKind.LESSON,
                course_id=course.id,
                teacher_id=teacher_id,
                main_classroom_id=main.id,
                starts_at=start,
                ends_at=start + timedelta(minutes=40),
                receivers=list(receivers),
            )
        )
    session.add_all(lessons)
    await session.flush()

    seed.province_id, seed.city_id, seed.county_id = province.id, city.id, county.id
    seed.township_id, seed.main_school_id = township.id, main_school.id
    seed.village_school_ids = [v.id for v in villages]
    seed.other_county_id, seed.other_school_id = other_county.id, other_school.id
    seed.main_classroom_id = main.id
    seed.receiving_classroom_ids = [r.id for r in receivers]
    seed.other_classroom_id = other_room.id
    seed.course_ids = [c.id for c in courses]
    seed.rubric_id = rubric.id
    seed.lesson_ids = [x.id for x in lessons]
    return seed


async def find_unit(session: AsyncSession, ref: str) -> OrgUnit | None:
    """A unit by id ("12") or by its names from the root ("内蒙古自治区/锡林郭勒盟")."""
    if ref.isdigit():
        return await session.get(OrgUnit, int(ref))
    parent: OrgUnit | None = None
    for name in [n for n in ref.split("/") if n]:
        parent_filter = (
            OrgUnit.parent_id.is_(None) if parent is None else OrgUnit.parent_id == parent.id
        )
        parent = await session.scalar(sa.select(OrgUnit).where(parent_filter, OrgUnit.name == name))
        if parent is None:
            return None
    return parent


async def create_admin(
    session: AsyncSession, passwords: Passwords, *, login: str, password: str, unit: str
) -> Account:
    """The first admin: `unit` is an id or a name path; a missing root name becomes a province."""
    if len(password) < 8:
        raise ValidationFailed("the password needs at least 8 characters")
    found = await find_unit(session, unit)
    if found is None:
        names = [n for n in unit.split("/") if n]
        if len(names) != 1 or unit.isdigit():
            raise NotFound(f"org unit {unit!r} not found")
        found = await add_unit(session, names[0], UnitLevel.PROVINCE)
    if await session.scalar(sa.select(User.id).where(User.login == login)) is not None:
        from server.errors import Conflict

        raise Conflict(f"login {login!r} is taken")
    return await add_user(
        session, passwords, login=login, name=login, role=Role.ADMIN, unit=found, password=password
    )
