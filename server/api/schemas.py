"""Wire models of the REST API: Create / Update / Public per resource.

Input models forbid unknown fields, so a typo in a field name is a 422 instead
of a silently ignored value. Public models are built from ORM objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from server.db.models import (
    ClassroomKind,
    LessonKind,
    LessonState,
    RecordingState,
    Role,
    TeachingLanguage,
    UnitLevel,
)
from server.tokens import RoomRole

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Login = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=80, pattern=r"^[\w.@-]+$"),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=200)]
T = TypeVar("T")


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


# --- auth ----------------------------------------------------------------------------------


class LoginRequest(Input):
    login: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class RefreshRequest(Input):
    refresh_token: str = Field(min_length=1)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class PairRequest(Input):
    code: str = Field(pattern=r"^\d{6}$")


class PairingCodePublic(BaseModel):
    classroom_id: int
    code: str
    expires_at: datetime


class DeviceTokenResponse(BaseModel):
    device_token: str
    token_type: str = "bearer"
    classroom_id: int
    classroom_name: str


class MePublic(BaseModel):
    role: Role
    name: str
    user_id: int | None
    classroom_id: int | None
    org_unit_id: int
    org_path: str


# --- org units -----------------------------------------------------------------------------


class OrgUnitCreate(Input):
    name: Name
    level: UnitLevel
    parent_id: int
    code: str | None = Field(default=None, max_length=40)


class OrgUnitUpdate(Input):
    name: Name | None = None
    code: str | None = Field(default=None, max_length=40)


class OrgUnitPublic(Public):
    id: int
    name: str
    level: UnitLevel
    parent_id: int | None
    path: str
    code: str | None


class OrgUnitTree(OrgUnitPublic):
    children: list[OrgUnitTree] = Field(default_factory=list)


class SchoolCreate(Input):
    name: Name
    parent_id: int
    code: str | None = Field(default=None, max_length=40)


# --- classrooms ----------------------------------------------------------------------------


class ClassroomCreate(Input):
    school_id: int
    name: Name
    kind: ClassroomKind
    capacity: int | None = Field(default=None, ge=0, le=10000)


class ClassroomUpdate(Input):
    name: Name | None = None
    kind: ClassroomKind | None = None
    capacity: int | None = Field(default=None, ge=0, le=10000)


class ClassroomPublic(Public):
    id: int
    school_id: int
    name: str
    kind: ClassroomKind
    capacity: int | None
    device_paired_at: datetime | None


# --- users ---------------------------------------------------------------------------------


class UserCreate(Input):
    login: Login
    display_name: Name
    password: Password
    role: Role
    org_unit_id: int
    classroom_id: int | None = None


class UserUpdate(Input):
    display_name: Name | None = None
    password: Password | None = None
    # Required when users change their own password.
    current_password: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None


class UserPublic(Public):
    id: int
    login: str
    display_name: str
    role: Role
    org_unit_id: int
    classroom_id: int | None
    is_active: bool


# --- courses -------------------------------------------------------------------------------


class CourseCreate(Input):
    school_id: int
    name: Name
    subject: str = Field(default="", max_length=80)
    grade: str = Field(default="", max_length=40)


class CourseUpdate(Input):
    name: Name | None = None
    subject: str | None = Field(default=None, max_length=80)
    grade: str | None = Field(default=None, max_length=40)


class CoursePublic(Public):
    id: int
    school_id: int
    name: str
    subject: str
    grade: str


# --- lessons -------------------------------------------------------------------------------


class LessonCreate(Input):
    title: Name
    kind: LessonKind = LessonKind.LESSON
    course_id: int | None = None
    teacher_id: int
    main_classroom_id: int
    receiving_classroom_ids: list[int] = Field(default_factory=list, max_length=100)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    # Expand into one lesson per week up to and including this instant.
    repeat_weekly_until: AwareDatetime | None = None
    language: TeachingLanguage = TeachingLanguage.ZH  # 授课语言 (issue 9)


class LessonUpdate(Input):
    title: Name | None = None
    course_id: int | None = None
    teacher_id: int | None = None
    main_classroom_id: int | None = None
    receiving_classroom_ids: list[int] | None = Field(default=None, max_length=100)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    language: TeachingLanguage | None = None


class LessonPublic(Public):
    id: int
    title: str
    kind: LessonKind
    state: LessonState
    course_id: int | None
    teacher_id: int
    main_classroom_id: int
    receiving_classroom_ids: list[int]
    starts_at: datetime
    ends_at: datetime
    actual_start: datetime | None
    actual_end: datetime | None
    recurrence_group: str | None
    language: TeachingLanguage = TeachingLanguage.ZH
    # Created or moved less than two days before it starts (accepted; admins are told).
    short_notice: bool = False


class LessonSeries(BaseModel):
    items: list[LessonPublic]
    recurrence_group: str | None


class JoinResponse(BaseModel):
    token: str
    room: str
    ws_url: str
    ice_servers: list[dict[str, Any]]
    role: RoomRole
    lesson_id: int
    identity: str


class EvaluatorAssign(Input):
    evaluator_id: int


# --- attendance, events --------------------------------------------------------------------


class AttendanceReport(Input):
    pupils_present: int = Field(ge=0, le=10000)


class AttendancePublic(Public):
    lesson_id: int
    classroom_id: int
    joined_at: datetime | None
    left_at: datetime | None
    pupils_present: int | None
    updated_at: datetime


class EventPublic(Public):
    id: int
    lesson_id: int
    type: str
    actor: str
    offset_ms: int
    payload: dict[str, Any]
    created_at: datetime


# --- evaluations ---------------------------------------------------------------------------


class Criterion(Input):
    key: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    label: str = Field(min_length=1, max_length=200)
    max: int = Field(gt=0, le=1000)


class RubricCreate(Input):
    name: Name
    criteria: list[Criterion] = Field(min_length=1, max_length=50)


class RubricPublic(Public):
    id: int
    name: str
    criteria: list[dict[str, Any]]


class EvaluationCreate(Input):
    lesson_id: int
    rubric_id: int | None = None
    scores: dict[str, int] = Field(default_factory=dict)
    summary: str = Field(default="", max_length=20000)


class EvaluationUpdate(Input):
    scores: dict[str, int] | None = None
    summary: str | None = Field(default=None, max_length=20000)


class CommentCreate(Input):
    offset_ms: int = Field(ge=0)
    text: str = Field(min_length=1, max_length=5000)
    classroom_id: int | None = None


class CommentPublic(Public):
    id: int
    offset_ms: int
    classroom_id: int | None
    text: str
    created_at: datetime


class EvaluationPublic(Public):
    id: int
    lesson_id: int
    evaluator_id: int
    rubric_id: int | None
    rubric: list[dict[str, Any]]
    scores: dict[str, Any]
    summary: str
    comments: list[CommentPublic]
    created_at: datetime
    updated_at: datetime


# --- recordings ----------------------------------------------------------------------------


class RecordingPublic(Public):
    id: int
    lesson_id: int
    state: RecordingState
    storage_key: str
    tracks: list[Any]
    size_bytes: int
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime


class RecordingDetail(RecordingPublic):
    manifest: dict[str, Any]
