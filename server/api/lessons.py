"""The timetable: lessons, their state machine, joining the room, evaluator assignment."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from server.api import recording_hooks
from server.api.common import audit, paginate
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep, SettingsDep
from server.api.schemas import (
    EvaluatorAssign,
    JoinResponse,
    LessonCreate,
    LessonPublic,
    LessonSeries,
    LessonUpdate,
    Page,
)
from server.api.turn import ice_servers_payload
from server.auth import Principal
from server.db.models import (
    Classroom,
    Course,
    EvaluationAssignment,
    Lesson,
    LessonKind,
    LessonState,
    Role,
    TeachingLanguage,
    User,
    lesson_receiver,
    utcnow,
)
from server.errors import InvalidState, NotFound, ValidationFailed
from server.lessons import (
    EARLY_START,
    cancel_lesson,
    end_lesson,
    mark_joined,
    record_event,
    start_lesson,
)
from server.notices import lesson_hooks
from server.policy import (
    classroom_path,
    classroom_paths,
    get_visible_lesson,
    lesson_places,
    require_admin_over,
    require_can_run_lesson,
    require_can_schedule,
    require_classrooms_in_scope,
    room_role_for,
    unit_path,
    visible_lessons,
)
from server.settings import Settings
from server.timetable import Slot, ensure_free, validate_slot, weekly_slots
from server.tokens import RoomRole, issue_room_token
from server.webhooks.outbox import lesson_state_event as webhook_event

router = APIRouter(prefix="/api/lessons", tags=["lessons"])


def room_name(lesson_id: int) -> str:
    """The signaling/media room of a lesson (shared with signaling and the recorder)."""
    return f"lesson-{lesson_id}"


# --- listing -------------------------------------------------------------------------------


def _local_range(
    settings: Settings, tz: str | None, day: date, days: int
) -> tuple[datetime, datetime]:
    try:
        zone = ZoneInfo(tz or settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed("unknown time zone", {"tz": tz}) from exc
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=days)


@router.get("", response_model=Page[LessonPublic])
async def list_lessons(
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
    paging: PagingDep,
    day: Annotated[date | None, Query(description="lessons starting on this local day")] = None,
    week: Annotated[
        date | None, Query(description="lessons in the Monday-based week of this day")
    ] = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    tz: Annotated[
        str | None, Query(description="IANA zone for day/week; default from settings")
    ] = None,
    school_id: int | None = None,
    teacher_id: int | None = None,
    classroom_id: int | None = None,
    state: LessonState | None = None,
    kind: LessonKind | None = None,
    language: TeachingLanguage | None = None,
) -> Page[LessonPublic]:
    query = sa.select(Lesson).where(visible_lessons(p)).order_by(Lesson.starts_at, Lesson.id)
    if day is not None:
        lo, hi = _local_range(settings, tz, day, 1)
        query = query.where(Lesson.starts_at >= lo, Lesson.starts_at < hi)
    if week is not None:
        lo, hi = _local_range(settings, tz, week - timedelta(days=week.weekday()), 7)
        query = query.where(Lesson.starts_at >= lo, Lesson.starts_at < hi)
    for bound in (from_, to):
        if bound is not None and bound.tzinfo is None:
            raise ValidationFailed("from/to must carry a timezone, e.g. 2026-03-02T00:00:00Z")
    if from_ is not None:
        query = query.where(Lesson.ends_at > from_)
    if to is not None:
        query = query.where(Lesson.starts_at < to)
    if teacher_id is not None:
        query = query.where(Lesson.teacher_id == teacher_id)
    if classroom_id is not None:
        query = query.where(
            sa.or_(
                Lesson.main_classroom_id == classroom_id,
                Lesson.id.in_(
                    sa.select(lesson_receiver.c.lesson_id).where(
                        lesson_receiver.c.classroom_id == classroom_id
                    )
                ),
            )
        )
    if school_id is not None:
        in_school = sa.select(Classroom.id).where(Classroom.school_id == school_id)
        query = query.where(
            sa.or_(
                Lesson.main_classroom_id.in_(in_school),
                Lesson.id.in_(
                    sa.select(lesson_receiver.c.lesson_id).where(
                        lesson_receiver.c.classroom_id.in_(in_school)
                    )
                ),
            )
        )
    if state is not None:
        query = query.where(Lesson.state == state)
    if kind is not None:
        query = query.where(Lesson.kind == kind)
    if language is not None:
        query = query.where(Lesson.language == language)
    return await paginate(session, query, paging, LessonPublic)


@router.get("/{lesson_id}", response_model=LessonPublic)
async def get_lesson(lesson_id: int, session: SessionDep, p: CurrentPrincipal) -> Lesson:
    return await get_visible_lesson(session, p, lesson_id)


# --- scheduling ----------------------------------------------------------------------------


async def _check_people_and_places(
    session: AsyncSession,
    p: Principal,
    *,
    teacher_id: int,
    main_classroom_id: int,
    receiving_classroom_ids: list[int],
    course_id: int | None,
    already_booked: tuple[int, ...] = (),
) -> list[Classroom]:
    """Referenced rows exist and the caller may schedule with them; returns the receivers."""
    teacher = await session.get(User, teacher_id)
    if (
        teacher is None
        or not teacher.is_active
        or teacher.role not in (Role.TEACHER, Role.RESEARCHER)
    ):
        raise ValidationFailed("teacher_id is not an active teacher", {"teacher_id": teacher_id})
    main = await session.get(Classroom, main_classroom_id)
    if main is None:
        raise ValidationFailed("main classroom not found", {"main_classroom_id": main_classroom_id})
    main_path = await classroom_path(session, main.id)
    require_can_schedule(p, teacher_id, main_path)
    if len(set(receiving_classroom_ids)) != len(receiving_classroom_ids):
        raise ValidationFailed("a receiving classroom is listed twice")
    if main_classroom_id in receiving_classroom_ids:
        raise ValidationFailed("the main classroom cannot also be a receiving classroom")
    receivers = list(
        (
            await session.scalars(
                sa.select(Classroom).where(Classroom.id.in_(receiving_classroom_ids))
            )
        ).all()
    )
    missing = sorted(set(receiving_classroom_ids) - {c.id for c in receivers})
    if missing:
        raise ValidationFailed("receiving classrooms not found", {"classroom_ids": missing})
    # Only newly booked classrooms must lie in the caller's scope: a teacher may still move
    # a lesson an admin gave them, with receivers outside the teacher's school.
    added = [cid for cid in receiving_classroom_ids if cid not in already_booked]
    require_classrooms_in_scope(p, await classroom_paths(session, added))
    if course_id is not None:
        course = await session.get(Course, course_id)
        if course is None or not (await unit_path(session, course.school_id)).startswith(
            p.org_path
        ):
            raise ValidationFailed("course not found in your scope", {"course_id": course_id})
    return sorted(receivers, key=lambda c: receiving_classroom_ids.index(c.id))


@router.post("", response_model=LessonSeries, status_code=status.HTTP_201_CREATED)
async def create_lesson(
    body: LessonCreate, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> LessonSeries:
    """Schedule one lesson, or a weekly series with `repeat_weekly_until` (all or nothing)."""
    first = Slot(body.starts_at, body.ends_at)
    validate_slot(first, utcnow())
    receivers = await _check_people_and_places(
        session,
        p,
        teacher_id=body.teacher_id,
        main_classroom_id=body.main_classroom_id,
        receiving_classroom_ids=body.receiving_classroom_ids,
        course_id=body.course_id,
    )
    slots = (
        [first]
        if body.repeat_weekly_until is None
        else weekly_slots(first, body.repeat_weekly_until)
    )
    await ensure_free(
        session,
        slots=slots,
        teacher_id=body.teacher_id,
        main_classroom_id=body.main_classroom_id,
        receiving_classroom_ids=body.receiving_classroom_ids,
    )
    group = str(uuid.uuid4()) if len(slots) > 1 else None
    lessons = [
        Lesson(
            title=body.title,
            kind=body.kind,
            course_id=body.course_id,
            teacher_id=body.teacher_id,
            main_classroom_id=body.main_classroom_id,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            recurrence_group=group,
            receivers=list(receivers),
            language=body.language,
        )
        for s in slots
    ]
    session.add_all(lessons)
    await session.flush()
    await lesson_hooks.on_created(session, settings, lessons)  # short-notice flag + notices
    audit(
        session,
        p,
        "lesson.created",
        f"lesson:{lessons[0].id}",
        {"count": len(lessons), "recurrence_group": group},
    )
    return LessonSeries(
        items=[LessonPublic.model_validate(x) for x in lessons], recurrence_group=group
    )


@router.patch("/{lesson_id}", response_model=LessonPublic)
async def update_lesson(
    lesson_id: int,
    body: LessonUpdate,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
) -> Lesson:
    """Edit or move a scheduled lesson; a move is checked for clashes like a new lesson."""
    lesson = await get_visible_lesson(session, p, lesson_id)
    require_can_run_lesson(p, lesson, await lesson_places(session, lesson))
    if lesson.state is not LessonState.SCHEDULED:
        raise InvalidState("only scheduled lessons can be changed", {"state": lesson.state.value})
    changes = body.model_dump(exclude_unset=True)
    for key in ("teacher_id", "main_classroom_id", "starts_at", "ends_at"):
        if key in changes and changes[key] is None:
            raise ValidationFailed(f"{key} cannot be null")
    teacher_id = changes.get("teacher_id", lesson.teacher_id)
    main_id = changes.get("main_classroom_id", lesson.main_classroom_id)
    receiver_ids = changes.get("receiving_classroom_ids")
    if receiver_ids is None:
        receiver_ids = lesson.receiving_classroom_ids
    slot = Slot(changes.get("starts_at", lesson.starts_at), changes.get("ends_at", lesson.ends_at))
    if "starts_at" in changes or "ends_at" in changes:
        # A title fix on a lesson that is a little late to start must not be refused as "past".
        validate_slot(slot, utcnow())
    receivers = await _check_people_and_places(
        session,
        p,
        teacher_id=teacher_id,
        main_classroom_id=main_id,
        receiving_classroom_ids=receiver_ids,
        course_id=changes.get("course_id"),  # checked only when it changes
        already_booked=tuple(lesson.receiving_classroom_ids),
    )
    await ensure_free(
        session,
        slots=[slot],
        teacher_id=teacher_id,
        main_classroom_id=main_id,
        receiving_classroom_ids=receiver_ids,
        exclude_lesson_ids=[lesson.id],
    )
    old_slot, old_main = (lesson.starts_at, lesson.ends_at), lesson.main_classroom_id
    old_receivers = list(lesson.receiving_classroom_ids)
    for key in ("title", "course_id", "teacher_id", "main_classroom_id", "language"):
        if key in changes and changes[key] is not None:
            setattr(lesson, key, changes[key])
    lesson.starts_at, lesson.ends_at = slot.starts_at, slot.ends_at
    lesson.receivers = receivers
    await session.flush()
    await lesson_hooks.on_changed(
        session, settings, lesson, old_starts_at=old_slot[0], old_ends_at=old_slot[1],
        old_main=old_main, old_receivers=old_receivers,
    )
    audit(
        session,
        p,
        "lesson.updated",
        f"lesson:{lesson.id}",
        body.model_dump(mode="json", exclude_unset=True),
    )
    return lesson


@router.post("/{lesson_id}/cancel", response_model=LessonPublic)
async def cancel(
    lesson_id: int, session: SessionDep, settings: SettingsDep, p: CurrentPrincipal
) -> Lesson:
    lesson = await get_visible_lesson(session, p, lesson_id)
    require_can_run_lesson(p, lesson, await lesson_places(session, lesson))
    await cancel_lesson(session, lesson, p.identity)
    await lesson_hooks.on_cancelled(session, settings, lesson)
    audit(session, p, "lesson.cancelled", f"lesson:{lesson.id}")
    return lesson


# --- running -------------------------------------------------------------------------------


@router.post("/{lesson_id}/start", response_model=LessonPublic)
async def start(
    lesson_id: int, request: Request, session: SessionDep, p: CurrentPrincipal
) -> Lesson:
    lesson = await get_visible_lesson(session, p, lesson_id)
    require_can_run_lesson(p, lesson, await lesson_places(session, lesson))
    started = await start_lesson(session, lesson, p.identity)
    await webhook_event(request.app, session, "lesson.started", started)
    await recording_hooks.lesson_went_live(request, session, started)
    return started


@router.post("/{lesson_id}/end", response_model=LessonPublic)
async def end(
    lesson_id: int,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    p: CurrentPrincipal,
) -> Lesson:
    lesson = await get_visible_lesson(session, p, lesson_id)
    require_can_run_lesson(p, lesson, await lesson_places(session, lesson))
    ended = await end_lesson(session, lesson, p.identity)
    await webhook_event(request.app, session, "lesson.ended", ended)
    await recording_hooks.lesson_ended(request, ended)
    hub = getattr(request.app.state, "hub", None)
    if hub is not None:
        # After the response (and the commit): everyone in the room gets `closed`.
        background.add_task(hub.close_room, f"lesson-{lesson_id}")
    return ended


def ws_url(settings: Settings, request: Request) -> str:
    base = settings.public_url or str(request.base_url)
    base = base.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + "/ws"
    return "ws://" + base.removeprefix("http://") + "/ws"


@router.post("/{lesson_id}/join", response_model=JoinResponse)
async def join(
    lesson_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    p: CurrentPrincipal,
) -> JoinResponse:
    """A room token for the lesson; the role follows from who asks (see server.policy)."""
    lesson = await get_visible_lesson(session, p, lesson_id)
    role = room_role_for(p, lesson, await lesson_places(session, lesson))
    now = utcnow()
    early_ok = (
        role is RoomRole.TEACHER
        and lesson.state is LessonState.SCHEDULED
        and now >= lesson.starts_at - EARLY_START
    )
    if lesson.state is not LessonState.LIVE and not early_ok:
        raise InvalidState(
            "the lesson is not live",
            {
                "lesson_id": lesson_id,
                "state": lesson.state.value,
                "starts_at": lesson.starts_at.isoformat(),
            },
        )
    if p.classroom_id is not None and role in (RoomRole.CLASSROOM, RoomRole.TEACHER):
        await mark_joined(session, lesson.id, p.classroom_id)
    token = issue_room_token(
        settings.ensure_secret(),
        room=room_name(lesson.id),
        identity=p.identity,
        role=role,
        ttl=settings.auth.room_token_ttl,
        name=p.name,
        classroom_id=p.classroom_id,
        user_id=p.user_id,
        kind=lesson.kind.value,
    )
    return JoinResponse(
        token=token,
        room=room_name(lesson.id),
        ws_url=ws_url(settings, request),
        ice_servers=ice_servers_payload(settings, p.identity),  # + a short-lived TURN credential
        role=role,
        lesson_id=lesson.id,
        identity=p.identity,
    )


@router.post("/{lesson_id}/evaluators", status_code=status.HTTP_204_NO_CONTENT)
async def assign_evaluator(
    lesson_id: int, body: EvaluatorAssign, session: SessionDep, p: CurrentPrincipal
) -> None:
    """Invite an evaluator (possibly from another unit) to a lesson in the admin's scope."""
    lesson = await session.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound("lesson not found", {"lesson_id": lesson_id})
    require_admin_over(p, (await lesson_places(session, lesson)).main_path, "lesson")
    evaluator = await session.get(User, body.evaluator_id)
    if evaluator is None or evaluator.role is not Role.EVALUATOR:
        raise ValidationFailed(
            "evaluator_id is not an evaluator", {"evaluator_id": body.evaluator_id}
        )
    exists = await session.get(EvaluationAssignment, (lesson_id, evaluator.id))
    if exists is None:
        session.add(EvaluationAssignment(lesson_id=lesson_id, evaluator_id=evaluator.id))
        await record_event(
            session, lesson, "evaluator.assigned", p.identity, {"evaluator_id": evaluator.id}
        )
    audit(
        session,
        p,
        "lesson.evaluator_assigned",
        f"lesson:{lesson_id}",
        {"evaluator_id": evaluator.id},
    )
