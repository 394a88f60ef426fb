"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-12-02 19:50:38.372802
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('target', sa.String(length=120), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_created_at'), ['created_at'], unique=False)

    op.create_table('org_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.Enum('province', 'city', 'county', 'township', 'school', name='unitlevel', native_enum=False, length=20), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['org_unit.id'], name=op.f('fk_org_unit_parent_id_org_unit'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_org_unit')),
    sa.UniqueConstraint('parent_id', 'name', name=op.f('uq_org_unit_parent_id_name'))
    )
    with op.batch_alter_table('org_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_org_unit_path'), ['path'], unique=False)

    op.create_table('rubric',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('criteria', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric')),
    sa.UniqueConstraint('name', name=op.f('uq_rubric_name'))
    )
    op.create_table('classroom',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('main', 'receiving', name='classroomkind', native_enum=False, length=20), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('device_token_version', sa.Integer(), nullable=False),
    sa.Column('device_paired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['org_unit.id'], name=op.f('fk_classroom_school_id_org_unit'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classroom')),
    sa.UniqueConstraint('school_id', 'name', name=op.f('uq_classroom_school_id_name'))
    )
    with op.batch_alter_table('classroom', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_classroom_school_id'), ['school_id'], unique=False)

    op.create_table('course',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('grade', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['org_unit.id'], name=op.f('fk_course_school_id_org_unit'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course')),
    sa.UniqueConstraint('school_id', 'name', name=op.f('uq_course_school_id_name'))
    )
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_course_school_id'), ['school_id'], unique=False)

    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login', sa.String(length=80), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('admin', 'teacher', 'classroom', 'evaluator', 'researcher', name='role', native_enum=False, length=20), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['classroom_id'], ['classroom.id'], name=op.f('fk_user_account_classroom_id_classroom'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_user_account_org_unit_id_org_unit'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('login', name=op.f('uq_user_account_login'))
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_account_org_unit_id'), ['org_unit_id'], unique=False)

    op.create_table('lesson',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('lesson', 'research', 'meeting', name='lessonkind', native_enum=False, length=20), nullable=False),
    sa.Column('state', sa.Enum('scheduled', 'live', 'ended', 'cancelled', name='lessonstate', native_enum=False, length=20), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=True),
    sa.Column('teacher_id', sa.Integer(), nullable=False),
    sa.Column('main_classroom_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actual_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actual_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recurrence_group', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_lesson_course_id_course'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['main_classroom_id'], ['classroom.id'], name=op.f('fk_lesson_main_classroom_id_classroom'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['teacher_id'], ['user_account.id'], name=op.f('fk_lesson_teacher_id_user_account'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lesson'))
    )
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.create_index('ix_lesson_main_time', ['main_classroom_id', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_recurrence_group'), ['recurrence_group'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_starts_at'), ['starts_at'], unique=False)
        batch_op.create_index('ix_lesson_teacher_time', ['teacher_id', 'starts_at'], unique=False)

    op.create_table('pairing_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['classroom_id'], ['classroom.id'], name=op.f('fk_pairing_code_classroom_id_classroom'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_pairing_code_created_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pairing_code'))
    )
    with op.batch_alter_table('pairing_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pairing_code_classroom_id'), ['classroom_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pairing_code_code_hash'), ['code_hash'], unique=False)

    op.create_table('evaluation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('evaluator_id', sa.Integer(), nullable=False),
    sa.Column('rubric_id', sa.Integer(), nullable=True),
    sa.Column('rubric', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['evaluator_id'], ['user_account.id'], name=op.f('fk_evaluation_evaluator_id_user_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_evaluation_lesson_id_lesson'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rubric_id'], ['rubric.id'], name=op.f('fk_evaluation_rubric_id_rubric'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation')),
    sa.UniqueConstraint('lesson_id', 'evaluator_id', name=op.f('uq_evaluation_lesson_id_evaluator_id'))
    )
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_lesson_id'), ['lesson_id'], unique=False)

    op.create_table('evaluation_assignment',
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('evaluator_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['evaluator_id'], ['user_account.id'], name=op.f('fk_evaluation_assignment_evaluator_id_user_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_evaluation_assignment_lesson_id_lesson'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lesson_id', 'evaluator_id', name=op.f('pk_evaluation_assignment'))
    )
    with op.batch_alter_table('evaluation_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_assignment_evaluator_id'), ['evaluator_id'], unique=False)

    op.create_table('lesson_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=60), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('offset_ms', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_lesson_event_lesson_id_lesson'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lesson_event'))
    )
    with op.batch_alter_table('lesson_event', schema=None) as batch_op:
        batch_op.create_index('ix_lesson_event_lesson_offset', ['lesson_id', 'offset_ms'], unique=False)

    op.create_table('lesson_receiver',
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['classroom_id'], ['classroom.id'], name=op.f('fk_lesson_receiver_classroom_id_classroom'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_lesson_receiver_lesson_id_lesson'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lesson_id', 'classroom_id', name=op.f('pk_lesson_receiver'))
    )
    with op.batch_alter_table('lesson_receiver', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lesson_receiver_classroom_id'), ['classroom_id'], unique=False)

    op.create_table('participation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pupils_present', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['classroom_id'], ['classroom.id'], name=op.f('fk_participation_classroom_id_classroom'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_participation_lesson_id_lesson'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participation')),
    sa.UniqueConstraint('lesson_id', 'classroom_id', name=op.f('uq_participation_lesson_id_classroom_id'))
    )
    with op.batch_alter_table('participation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participation_lesson_id'), ['lesson_id'], unique=False)

    op.create_table('recording',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'recording', 'processing', 'ready', 'failed', name='recordingstate', native_enum=False, length=20), nullable=False),
    sa.Column('storage_key', sa.String(length=400), nullable=False),
    sa.Column('tracks', sa.JSON(), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_recording_lesson_id_lesson'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording'))
    )
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_lesson_id'), ['lesson_id'], unique=False)

    op.create_table('evaluation_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('offset_ms', sa.BigInteger(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['classroom_id'], ['classroom.id'], name=op.f('fk_evaluation_comment_classroom_id_classroom'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluation.id'], name=op.f('fk_evaluation_comment_evaluation_id_evaluation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_comment'))
    )
    with op.batch_alter_table('evaluation_comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_comment_evaluation_id'), ['evaluation_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('evaluation_comment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_comment_evaluation_id'))

    op.drop_table('evaluation_comment')
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_lesson_id'))

    op.drop_table('recording')
    with op.batch_alter_table('participation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participation_lesson_id'))

    op.drop_table('participation')
    with op.batch_alter_table('lesson_receiver', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lesson_receiver_classroom_id'))

    op.drop_table('lesson_receiver')
    with op.batch_alter_table('lesson_event', schema=None) as batch_op:
        batch_op.drop_index('ix_lesson_event_lesson_offset')

    op.drop_table('lesson_event')
    with op.batch_alter_table('evaluation_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_assignment_evaluator_id'))

    op.drop_table('evaluation_assignment')
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_lesson_id'))

    op.drop_table('evaluation')
    with op.batch_alter_table('pairing_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pairing_code_code_hash'))
        batch_op.drop_index(batch_op.f('ix_pairing_code_classroom_id'))

    op.drop_table('pairing_code')
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.drop_index('ix_lesson_teacher_time')
        batch_op.drop_index(batch_op.f('ix_lesson_starts_at'))
        batch_op.drop_index(batch_op.f('ix_lesson_recurrence_group'))
        batch_op.drop_index('ix_lesson_main_time')

    op.drop_table('lesson')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_account_org_unit_id'))

    op.drop_table('user_account')
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_course_school_id'))

    op.drop_table('course')
    with op.batch_alter_table('classroom', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classroom_school_id'))

    op.drop_table('classroom')
    op.drop_table('rubric')
    with op.batch_alter_table('org_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_org_unit_path'))

    op.drop_table('org_unit')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_created_at'))

    op.drop_table('audit_log')
    
