"""The offline sync feed (GET /api/v1/sync/changes): upserts carry a record in the shape of
its GET endpoint; tombstones tell the phone to drop a record."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from childprotect_api.schemas.activity import ActivityRead, SiteRead
from childprotect_api.schemas.agreement import AgreementRead
from childprotect_api.schemas.benefit import CategoryApplicationRead
from childprotect_api.schemas.care import AlertRead, CaseRead, PairingRead
from childprotect_api.schemas.child import ChildRead
from childprotect_api.schemas.report import FiledReportRead
from childprotect_api.schemas.visit import VisitRead


class SyncRecordType(StrEnum):
    """The records the feed carries."""

    child = "child"
    agreement = "agreement"
    visit = "visit"
    report = "report"
    pairing = "pairing"
    case = "case"
    alert = "alert"
    site = "site"
    activity = "activity"
    category_application = "category_application"


class TombstoneReason(StrEnum):
    # The record moved to an area outside the caller's scope.
    transferred = "transferred"
    # A child closed longer ago than the app keeps closed records (its agreements and
    # visits go with it).
    closed = "closed"
    # The record was anonymised by the retention job.
    anonymised = "anonymised"
    # A visit version replaced by a correction (the new version comes as an upsert).
    superseded = "superseded"
    # Any other reason the caller no longer sees the record.
    out_of_scope = "out_of_scope"


# `kind`, `op` and `type` are constants per item: always sent, declared required
# (core/openapi.py), as a generated client needs its discriminator.
class _Upsert(BaseModel):
    id: uuid.UUID
    op: Literal["upsert"] = "upsert"
    version: int | None = Field(description="The record's version (its ETag).")


class ChildUpsert(_Upsert):
    kind: Literal["child"] = "child"
    type: Literal["child"] = "child"
    data: ChildRead = Field(description="As GET /api/v1/children/{id}.")


class AgreementUpsert(_Upsert):
    kind: Literal["agreement"] = "agreement"
    type: Literal["agreement"] = "agreement"
    data: AgreementRead = Field(description="As GET /api/v1/agreements/{id}.")


class VisitUpsert(_Upsert):
    kind: Literal["visit"] = "visit"
    type: Literal["visit"] = "visit"
    data: VisitRead = Field(description="As GET /api/v1/visits/{id}.")


class ReportUpsert(_Upsert):
    kind: Literal["report"] = "report"
    type: Literal["report"] = "report"
    data: FiledReportRead = Field(description="As GET /api/v1/my-reports/{id}.")


class PairingUpsert(_Upsert):
    kind: Literal["pairing"] = "pairing"
    type: Literal["pairing"] = "pairing"
    data: PairingRead = Field(description="As GET /api/v1/pairings/{id}.")


class CaseUpsert(_Upsert):
    kind: Literal["case"] = "case"
    type: Literal["case"] = "case"
    data: CaseRead = Field(description="As GET /api/v1/cases/{id}.")


class AlertUpsert(_Upsert):
    kind: Literal["alert"] = "alert"
    type: Literal["alert"] = "alert"
    data: AlertRead = Field(description="One of the caller's alerts, as GET /api/v1/alerts.")


class SiteUpsert(_Upsert):
    kind: Literal["site"] = "site"
    type: Literal["site"] = "site"
    data: SiteRead = Field(description="As GET /api/v1/sites/{id}.")


class ActivityUpsert(_Upsert):
    kind: Literal["activity"] = "activity"
    type: Literal["activity"] = "activity"
    data: ActivityRead = Field(description="As GET /api/v1/activities/{id}.")


class CategoryApplicationUpsert(_Upsert):
    kind: Literal["category_application"] = "category_application"
    type: Literal["category_application"] = "category_application"
    data: CategoryApplicationRead = Field(description="As GET /api/v1/category-applications/{id}.")


class SyncTombstone(BaseModel):
    """Drop this record from the phone (a tombstone of a record the phone never had is
    harmless). A child's tombstone drops its agreements and visits too."""

    kind: Literal["tombstone"] = "tombstone"
    type: SyncRecordType = Field(description="The kind of record to drop.")
    id: uuid.UUID
    op: Literal["delete"] = "delete"
    reason: TombstoneReason


SyncItem = Annotated[
    ChildUpsert
    | AgreementUpsert
    | VisitUpsert
    | ReportUpsert
    | PairingUpsert
    | CaseUpsert
    | AlertUpsert
    | SiteUpsert
    | ActivityUpsert
    | CategoryApplicationUpsert
    | SyncTombstone,
    Field(
        discriminator="kind",
        description="`kind` says what the item is: a record to store (its type: `child`, "
        "`visit`, ...; `data` as its GET endpoint answers it) or a `tombstone`.",
    ),
]


class SyncChangesPage(BaseModel):
    items: list[SyncItem]
    next_cursor: str = Field(
        description="Call again with this cursor: the next page, or (when `has_more` is "
        "false) the changes made from now on. Keep it across sessions."
    )
    has_more: bool = Field(description="More is to fetch now; false: the phone is up to date.")
