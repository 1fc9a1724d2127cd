"""Reference data for the app's forms."""

from __future__ import annotations

from fastapi import APIRouter

from childprotect_api.core.errors import Problem
from childprotect_api.schemas.meta import EnumOption
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.enums import ENUM_LABELS
from childprotect_api.services.stats.metrics import METRIC_LABELS

router = APIRouter(prefix="/api/v1/meta", tags=["meta"])


@router.get(
    "/enums",
    operation_id="listEnums",
    response_model=dict[str, list[EnumOption]],
    responses={401: {"model": Problem}},
)
async def list_enums(scope: CurrentScope) -> dict[str, list[EnumOption]]:
    """Every enum of the API with its Chinese and English labels (any signed-in caller)."""
    return {
        name: [EnumOption(value=v, label_zh=zh, label_en=en) for v, (zh, en) in values.items()]
        for name, values in {**ENUM_LABELS, "stats_metric": METRIC_LABELS}.items()
    }
