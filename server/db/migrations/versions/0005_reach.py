"""reach every school: lesson library, timetable notices, calendar feeds, teaching language

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-03 08:00:00

library_entry.search_vector is a tsvector with a GIN index on PostgreSQL (full-text
search) and an unused text column on SQLite.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
NOTICE_KIND = sa.Enum('timetable_published', 'lesson_created', 'lesson_changed',
                      'lesson_cancelled', 'short_notice', name='noticekind', native_enum=False,
                      length=20)
LANGUAGE = sa.Enum('zh', 'mn', 'bilingual', name='teachinglanguage', native_enum=False, length=20)


def upgrade() -> None:
    op.create_table('mail_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('to_addr', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('kind', NOTICE_KIND, nullable=False),
    sa.Column('state', sa.Enum('pending', 'sent', name='mailstate', native_enum=False, length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', TS, nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('sent_at', TS, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox'))
    )
    op.create_index('ix_mail_outbox_due', 'mail_outbox', ['state', 'next_attempt_at'], unique=False)
    op.create_table('calendar_feed',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('teacher', 'classroom', name='feedkind', native_enum=False, length=20), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('revoked_at', TS, nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_calendar_feed_created_by_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feed')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_feed_token_hash'))
    )
    op.create_table('notice_contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_notice_contact_org_unit_id_org_unit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_notice_contact_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_contact')),
    sa.UniqueConstraint('org_unit_id', name=op.f('uq_notice_contact_org_unit_id')),
    sa.UniqueConstraint('user_id', name=op.f('uq_notice_contact_user_id'))
    )
    op.create_table('timetable_publication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('lessons', sa.Integer(), nullable=False),
    sa.Column('short_notice', sa.Integer(), nullable=False),
    sa.Column('published_by', sa.Integer(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_timetable_publication_org_unit_id_org_unit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['published_by'], ['user_account.id'], name=op.f('fk_timetable_publication_published_by_user_account'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timetable_publication'))
    )
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', NOTICE_KIND, nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('read_at', TS, nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_notification_lesson_id_lesson'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['org_unit.id'], name=op.f('fk_notification_school_id_org_unit'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_notification_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification'))
    )
    op.create_index('ix_notification_user_read', 'notification', ['user_id', 'read_at'], unique=False)
    op.create_table('library_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('school_path', sa.String(length=400), nullable=False),
    sa.Column('visibility', sa.Enum('school', 'county', 'city', 'province', 'public', name='visibility', native_enum=False, length=20), nullable=False),
    sa.Column('scope_path', sa.String(length=400), nullable=False),
    sa.Column('published_by', sa.Integer(), nullable=False),
    sa.Column('teacher_id', sa.Integer(), nullable=True),
    sa.Column('teacher_name', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('grade', sa.String(length=40), nullable=False),
    sa.Column('language', LANGUAGE, nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('tags_text', sa.String(length=1000), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('search_vector', sa.Text().with_variant(postgresql.TSVECTOR(), 'postgresql'), nullable=False),
    sa.Column('state', sa.Enum('processing', 'published', 'unpublished', 'failed', name='entrystate', native_enum=False, length=20), nullable=False),
    sa.Column('hls_key', sa.String(length=400), nullable=False),
    sa.Column('mp4_key', sa.String(length=400), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=400), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.Column('published_at', TS, nullable=False),
    sa.Column('unpublished_at', TS, nullable=True),
    sa.Column('unpublished_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['lesson_id'], ['lesson.id'], name=op.f('fk_library_entry_lesson_id_lesson'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['published_by'], ['user_account.id'], name=op.f('fk_library_entry_published_by_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['recording_id'], ['recording.id'], name=op.f('fk_library_entry_recording_id_recording'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['org_unit.id'], name=op.f('fk_library_entry_school_id_org_unit'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['teacher_id'], ['user_account.id'], name=op.f('fk_library_entry_teacher_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unpublished_by'], ['user_account.id'], name=op.f('fk_library_entry_unpublished_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_entry'))
    )
    op.create_index(op.f('ix_library_entry_grade'), 'library_entry', ['grade'], unique=False)
    op.create_index(op.f('ix_library_entry_language'), 'library_entry', ['language'], unique=False)
    op.create_index(op.f('ix_library_entry_published_at'), 'library_entry', ['published_at'], unique=False)
    op.create_index(op.f('ix_library_entry_recording_id'), 'library_entry', ['recording_id'], unique=False)
    op.create_index('ix_library_entry_scope', 'library_entry', ['state', 'scope_path'], unique=False)
    op.create_index(op.f('ix_library_entry_subject'), 'library_entry', ['subject'], unique=False)
    op.create_index('ix_library_entry_fts', 'library_entry', ['search_vector'], unique=False,
                    postgresql_using='gin')
    op.create_table('library_resource',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('courseware', 'guide', 'microlesson', name='resourcekind', native_enum=False, length=20), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=400), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['library_entry.id'], name=op.f('fk_library_resource_entry_id_library_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['user_account.id'], name=op.f('fk_library_resource_uploaded_by_user_account'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_resource'))
    )
    op.create_index(op.f('ix_library_resource_entry_id'), 'library_resource', ['entry_id'], unique=False)
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', LANGUAGE, server_default='zh', nullable=False))
        batch_op.add_column(sa.Column('short_notice', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.drop_column('short_notice')
        batch_op.drop_column('language')
    op.drop_index(op.f('ix_library_resource_entry_id'), table_name='library_resource')
    op.drop_table('library_resource')
    op.drop_index('ix_library_entry_fts', table_name='library_entry')
    op.drop_index(op.f('ix_library_entry_subject'), table_name='library_entry')
    op.drop_index('ix_library_entry_scope', table_name='library_entry')
    op.drop_index(op.f('ix_library_entry_recording_id'), table_name='library_entry')
    op.drop_index(op.f('ix_library_entry_published_at'), table_name='library_entry')
    op.drop_index(op.f('ix_library_entry_language'), table_name='library_entry')
    op.drop_index(op.f('ix_library_entry_grade'), table_name='library_entry')
    op.drop_table('library_entry')
    op.drop_index('ix_notification_user_read', table_name='notification')
    op.drop_table('notification')
    op.drop_table('timetable_publication')
    op.drop_table('notice_contact')
    op.drop_table('calendar_feed')
    op.drop_index('ix_mail_outbox_due', table_name='mail_outbox')
    op.drop_table('mail_outbox')
