"""Every model module in one place, so `Base.metadata` knows every table.

Why: features keep their models in their own modules (models_<feature>.py);
the migration check and Alembic's environment must see all of them. Add one
import line per module here.
"""

from __future__ import annotations

from server.db import (
    models,  # noqa: F401
    models_collab,  # noqa: F401
    models_interaction,  # noqa: F401
    models_reach,  # noqa: F401
    models_recording,  # noqa: F401
    models_supervision,  # noqa: F401
)
from server.db.models import Base

__all__ = ["Base"]
