"""The typed errors of courseware uploads (mapped to HTTP by server.errors)."""

from __future__ import annotations

from server.errors import ValidationFailed


class CoursewareInvalid(ValidationFailed):
    """The file is not usable courseware: wrong type, corrupt, a bomb, too many pages.

    `details.reason` says which: `unsupported_type`, `corrupt`, `too_many_pages`,
    `page_too_large`, `image_too_large`, `memory_limit`, `timeout`, `empty`.
    """

    code = "courseware_invalid"
