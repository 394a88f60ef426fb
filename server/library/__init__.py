"""The lesson library (名校网络课堂): recordings published beyond their school.

Modules: `scope` (who may publish how far, who sees what), `search` (CJK-aware
full-text on PostgreSQL, LIKE on SQLite), `media` (MP4/HLS and the thumbnail of
a recording, by ffmpeg off the event loop), `resources` (validated uploads),
`tokens` (short-lived URLs for the player and thumbnails).
"""
