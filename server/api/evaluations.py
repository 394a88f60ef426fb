"""Evaluations (评课): rubric scores and timestamped comments on a lesson."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, status
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.common import audit, ensure_absent, flush_unique, paginate
from server.api.deps import CurrentPrincipal, PagingDep, SessionDep
from server.api.schemas import (
    CommentCreate,
    CommentPublic,
    EvaluationCreate,
    EvaluationPublic,
    EvaluationUpdate,
    Page,
    RubricCreate,
    RubricPublic,
)
from server.auth import Principal
from server.db.models import Evaluation, EvaluationComment, Rubric
from server.errors import NotFound, PermissionDenied, ValidationFailed
from server.policy import get_visible_lesson, require_admin, require_evaluator, visible_evaluations

router = APIRouter(prefix="/api/evaluations", tags=["evaluations"])
rubrics = APIRouter(prefix="/api/rubrics", tags=["evaluations"])


def check_scores(criteria: list[dict[str, Any]], scores: dict[str, int]) -> None:
    """Scores name known criteria and stay within 0..max (no rubric: free-form keys)."""
    if not criteria:
        return
    limits = {c["key"]: int(c["max"]) for c in criteria}
    unknown = sorted(set(scores) - set(limits))
    if unknown:
        raise ValidationFailed("scores name unknown criteria", {"unknown": unknown})
    bad = {k: v for k, v in scores.items() if not 0 <= v <= limits[k]}
    if bad:
        raise ValidationFailed("scores out of range", {"scores": bad, "max": limits})


@rubrics.get("", response_model=list[RubricPublic])
async def list_rubrics(session: SessionDep, p: CurrentPrincipal) -> list[Rubric]:
    return list((await session.scalars(sa.select(Rubric).order_by(Rubric.id))).all())


@rubrics.post("", response_model=RubricPublic, status_code=status.HTTP_201_CREATED)
async def create_rubric(body: RubricCreate, session: SessionDep, p: CurrentPrincipal) -> Rubric:
    require_admin(p)
    await ensure_absent(
        session,
        sa.select(Rubric.id).where(Rubric.name == body.name),
        "a rubric with this name exists",
        {"name": body.name},
    )
    rubric = Rubric(name=body.name, criteria=[c.model_dump() for c in body.criteria])
    session.add(rubric)
    await flush_unique(session, "a rubric with this name exists", {"name": body.name})
    return rubric


async def _get_evaluation(session: AsyncSession, p: Principal, evaluation_id: int) -> Evaluation:
    evaluation = await session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound("evaluation not found", {"evaluation_id": evaluation_id})
    visible = await session.scalar(
        sa.select(Evaluation.id).where(Evaluation.id == evaluation_id, visible_evaluations(p))
    )
    if visible is None:
        raise PermissionDenied("evaluation is outside your scope", {"evaluation_id": evaluation_id})
    return evaluation


def _require_author(p: Principal, evaluation: Evaluation) -> None:
    if p.user_id != evaluation.evaluator_id:
        raise PermissionDenied("only the author may change an evaluation")


@router.post("", response_model=EvaluationPublic, status_code=status.HTTP_201_CREATED)
async def create_evaluation(
    body: EvaluationCreate, session: SessionDep, p: CurrentPrincipal
) -> Evaluation:
    require_evaluator(p)
    await get_visible_lesson(session, p, body.lesson_id)
    criteria: list[dict[str, Any]] = []
    if body.rubric_id is not None:
        rubric = await session.get(Rubric, body.rubric_id)
        if rubric is None:
            raise ValidationFailed("rubric not found", {"rubric_id": body.rubric_id})
        criteria = list(rubric.criteria)
    check_scores(criteria, body.scores)
    dup = {"lesson_id": body.lesson_id, "evaluator_id": p.user_id}
    await ensure_absent(
        session,
        sa.select(Evaluation.id).where(
            Evaluation.lesson_id == body.lesson_id, Evaluation.evaluator_id == p.user_id
        ),
        "you already evaluated this lesson; update that evaluation",
        dup,
    )
    assert p.user_id is not None
    evaluation = Evaluation(
        lesson_id=body.lesson_id,
        evaluator_id=p.user_id,
        rubric_id=body.rubric_id,
        rubric=criteria,
        scores=body.scores,
        summary=body.summary,
        comments=[],
    )
    session.add(evaluation)
    await flush_unique(session, "you already evaluated this lesson", dup)
    audit(session, p, "evaluation.created", f"evaluation:{evaluation.id}", dup)
    return evaluation


@router.get("", response_model=Page[EvaluationPublic])
async def list_evaluations(
    session: SessionDep, p: CurrentPrincipal, paging: PagingDep, lesson_id: int | None = None
) -> Page[EvaluationPublic]:
    query = sa.select(Evaluation).where(visible_evaluations(p)).order_by(Evaluation.id)
    if lesson_id is not None:
        query = query.where(Evaluation.lesson_id == lesson_id)
    return await paginate(session, query, paging, EvaluationPublic)


@router.get("/{evaluation_id}", response_model=EvaluationPublic)
async def get_evaluation(
    evaluation_id: int, session: SessionDep, p: CurrentPrincipal
) -> Evaluation:
    return await _get_evaluation(session, p, evaluation_id)


@router.patch("/{evaluation_id}", response_model=EvaluationPublic)
async def update_evaluation(
    evaluation_id: int, body: EvaluationUpdate, session: SessionDep, p: CurrentPrincipal
) -> Evaluation:
    evaluation = await _get_evaluation(session, p, evaluation_id)
    _require_author(p, evaluation)
    if body.scores is not None:
        check_scores(evaluation.rubric, body.scores)
        evaluation.scores = body.scores
    if body.summary is not None:
        evaluation.summary = body.summary
    await session.flush()
    await session.refresh(evaluation)
    return evaluation


@router.post(
    "/{evaluation_id}/comments", response_model=CommentPublic, status_code=status.HTTP_201_CREATED
)
async def add_comment(
    evaluation_id: int, body: CommentCreate, session: SessionDep, p: CurrentPrincipal
) -> EvaluationComment:
    """A comment pinned to a moment of the lesson timeline (and optionally a classroom)."""
    evaluation = await _get_evaluation(session, p, evaluation_id)
    _require_author(p, evaluation)
    lesson = await get_visible_lesson(session, p, evaluation.lesson_id)
    if body.classroom_id is not None and body.classroom_id not in (
        lesson.main_classroom_id,
        *lesson.receiving_classroom_ids,
    ):
        raise ValidationFailed(
            "classroom_id is not a classroom of this lesson", {"classroom_id": body.classroom_id}
        )
    comment = EvaluationComment(evaluation_id=evaluation.id, **body.model_dump())
    session.add(comment)
    await session.flush()
    return comment
