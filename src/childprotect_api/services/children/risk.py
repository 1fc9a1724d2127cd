"""Setting a child's risk level by hand (PUT /children/{id}/risk): who may set which level.
The history row and the due-date move live in visit_schedule.set_risk_level."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core import audit, outbox
from childprotect_api.core.concurrency import check_version
from childprotect_api.core.errors import Conflict
from childprotect_api.models.child import RISK_ORDER, Child, ChildStatus
from childprotect_api.schemas.child import RiskLevelSet
from childprotect_api.security.scope import Action, Scope
from childprotect_api.services.children.registry import RESOURCE, load_for_write
from childprotect_api.services.children.rules import require_risk_allowed
from childprotect_api.services.children.schedule import set_risk_level


async def set_child_risk(
    session: AsyncSession,
    scope: Scope,
    child_id: uuid.UUID,
    data: RiskLevelSet,
    expected_version: int | None,
) -> Child:
    """Village directors may set up to orange (and may not change a red child's level);
    supervisors and officers any level. Setting the current level again changes nothing."""
    child = await load_for_write(session, scope, child_id, Action.risk_set)
    check_version(child.version, expected_version)
    if child.status != ChildStatus.active:
        raise Conflict("the record is closed; reopen it first", code="child_closed")
    require_risk_allowed(scope, data.level, child.risk_level)
    old = child.risk_level
    change = await set_risk_level(
        session, child, data.level.value, data.reason, set_by=scope.user_id
    )
    if change is None:
        return child
    await audit.record(session, scope, "child.risk_set", RESOURCE, child.id, child.area_code)
    if RISK_ORDER[data.level] > RISK_ORDER[old]:
        # Notifications (county officers for red) read this; ids and levels only.
        await outbox.emit(
            session,
            "child.risk_raised",
            resource_type=RESOURCE,
            resource_id=child.id,
            area_code=child.area_code,
            payload={"child_id": str(child.id), "old_level": old, "new_level": data.level.value},
        )
    return child
