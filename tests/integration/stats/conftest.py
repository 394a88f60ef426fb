"""The REST suite's `world` (demo seed on SQLite and on real PostgreSQL) plus a known week.

`known_week` adds lessons with hand-chosen facts in 2026-03-02..08 (Asia/Shanghai);
tests/integration/stats/test_stats_api.py lists the sums computed by hand from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from server.db.models import (
    Classroom,
    ClassroomKind,
    Evaluation,
    Lesson,
    LessonState,
    Participation,
    Recording,
    RecordingState,
    Role,
    User,
)
from server.db.models_supervision import QualitySample
from tests.integration.api.conftest import (  # noqa: F401 - fixtures re-exported
    World,
    api_pg_url,
    backend,
    pg_seeded,
    sqlite_template,
    world,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class KnownWeek:
    lessons: dict[str, int] = field(default_factory=dict)
    other_main_id: int = 0


@pytest.fixture
async def known_week(world: World) -> KnownWeek:  # noqa: F811
    s = world.seed
    out = KnownWeek()
    m, (r1, r2, r3), o = s.main_classroom_id, s.receiving_classroom_ids, s.other_classroom_id
    teacher = s.accounts["teacher"].user_id
    other_teacher = s.accounts["other_teacher"].user_id
    async with world.db.session() as session:
        other_main = Classroom(
            school_id=s.other_school_id, name="主讲教室 二", kind=ClassroomKind.MAIN
        )
        second_evaluator = User(
            login="evaluator2",
            display_name="评课专家 二",
            password_hash="x",
            role=Role.EVALUATOR,
            org_unit_id=s.county_id,
        )
        session.add_all([other_main, second_evaluator])
        await session.flush()
        out.other_main_id = other_main.id
        receivers = {c.id: c for c in [await session.get(Classroom, i) for i in (r1, r2, r3, o)]}

        def lesson(
            key: str,
            start: datetime,
            minutes: int,
            state: LessonState,
            recv: list[int],
            *,
            main: int = m,
            teacher_id: int = teacher,
            late: int | None = None,
            taught: int | None = None,
        ) -> Lesson:
            x = Lesson(
                title=f"统计 {key}",
                teacher_id=teacher_id,
                main_classroom_id=main,
                starts_at=start,
                ends_at=start + timedelta(minutes=minutes),
                state=state,
                receivers=[receivers[i] for i in recv],  # type: ignore[misc]
            )
            if late is not None:
                x.actual_start = start + timedelta(seconds=late)
                if taught is not None:
                    x.actual_end = x.actual_start + timedelta(minutes=taught)
            session.add(x)
            return x

        ended, live = LessonState.ENDED, LessonState.LIVE
        ls = {
            # Monday 00:30 local = Sunday 16:30 UTC: inside the local week.
            "L7": lesson("L7", utc(2026, 3, 1, 16, 30), 30, ended, [r1], late=0, taught=30),
            "L1": lesson("L1", utc(2026, 3, 2, 0, 0), 40, ended, [r1, r2, r3], late=120, taught=40),
            "L2": lesson("L2", utc(2026, 3, 3, 0, 0), 40, ended, [r1, r2], late=600, taught=35),
            "L3": lesson("L3", utc(2026, 3, 4, 0, 0), 40, LessonState.CANCELLED, [r1]),
            "L4": lesson("L4", utc(2026, 3, 5, 0, 0), 40, LessonState.SCHEDULED, [r3]),
            "L5": lesson(
                "L5",
                utc(2026, 3, 6, 0, 0),
                45,
                ended,
                [o],
                main=other_main.id,
                teacher_id=other_teacher,
                late=-60,
                taught=45,
            ),
            # Monday 00:30 local of the next week = Sunday 16:30 UTC: outside.
            "L6": lesson("L6", utc(2026, 3, 8, 16, 30), 30, ended, [r1], late=0, taught=30),
            # A live lesson (no end yet) far outside the week.
            "L8": lesson("L8", utc(2026, 4, 1, 0, 0), 40, live, [r1], late=30),
        }
        await session.flush()
        out.lessons = {k: v.id for k, v in ls.items()}
        L1, L2, L5 = ls["L1"].id, ls["L2"].id, ls["L5"].id
        j = utc(2026, 3, 2, 0, 3)
        session.add_all(
            [
                Participation(lesson_id=L1, classroom_id=m, joined_at=j, pupils_present=30),
                Participation(lesson_id=L1, classroom_id=r1, joined_at=j, pupils_present=10),
                Participation(lesson_id=L1, classroom_id=r2, joined_at=j, pupils_present=5),
                Participation(lesson_id=L2, classroom_id=r1, joined_at=j, pupils_present=12),
                Participation(lesson_id=L2, classroom_id=r2, joined_at=None, pupils_present=None),
                Participation(lesson_id=L5, classroom_id=o, joined_at=j, pupils_present=7),
                Evaluation(
                    lesson_id=L1,
                    evaluator_id=s.accounts["evaluator"].user_id,
                    scores={"goals": 18, "interaction": 25},
                ),
                Evaluation(
                    lesson_id=L1,
                    evaluator_id=second_evaluator.id,
                    scores={"goals": 15, "interaction": 20, "media": 10},
                ),
                Recording(lesson_id=L1, state=RecordingState.READY, storage_key="a"),
                Recording(lesson_id=L1, state=RecordingState.FAILED, storage_key="b"),
                Recording(lesson_id=L2, state=RecordingState.READY, storage_key="c"),
                QualitySample(
                    lesson_id=L1, identity="a", loss=0.02, rtt_ms=100, low_layer_share=0.1
                ),
                QualitySample(
                    lesson_id=L1, identity="b", loss=0.06, rtt_ms=300, low_layer_share=0.5
                ),
                QualitySample(
                    lesson_id=L2, identity="c", loss=0.10, rtt_ms=200, low_layer_share=1.0
                ),
            ]
        )
    return out
