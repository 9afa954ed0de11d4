"""Versions and expiry in PostgreSQL: the "hidden at time t" condition and
archiving a superseded version (the same rules as ``storage.base.is_live``).

Kept apart from the candidate queries so that a metadata filter rendered
elsewhere and this condition compose without touching each other.
"""

from __future__ import annotations

from ...errors import InvalidInputError
from ..base import Live
from .plan import Plan, rows

#: Rows recall must check: few, through the partial index ``traces_lifecycle``.
LIFECYCLE_ROWS = "superseded_at IS NOT NULL OR supersedes IS NOT NULL OR expires_at IS NOT NULL"


def hidden_sql(live: Live) -> tuple[str, list]:
    """The condition (and its parameters, ``%s`` style) true of rows ``live`` excludes."""
    sql = "(expires_at IS NOT NULL AND expires_at <= %s)"
    params: list = [float(live.now)]
    if live.at is not None:
        sql += " OR (superseded_at IS NOT NULL AND superseded_at <= %s) OR (supersedes IS NOT NULL AND time > %s)"
        params += [float(live.at), float(live.at)]
    return f"({sql})", params


def archive(schema: str, old_id: str, archived_id: str, when: float, namespace: str) -> Plan[None]:
    """Rename the current version ``old_id`` to ``archived_id``, superseded at ``when`` (in the update's transaction)."""
    found = yield from rows(
        f'UPDATE "{schema}".traces SET id = %s, superseded_at = %s'
        " WHERE id = %s AND namespace = %s AND superseded_at IS NULL RETURNING key",
        (archived_id, float(when), old_id, namespace), binary=False,
    )
    if not found:
        raise InvalidInputError(f"no current trace {old_id!r} in namespace {namespace!r} to supersede")
