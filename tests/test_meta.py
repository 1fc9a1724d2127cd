from __future__ import annotations

from enum import StrEnum

from childprotect_api.models import benefit, care
from childprotect_api.models import child as child_models
from childprotect_api.models.area import AreaLevel
from childprotect_api.models.user import Role

ENUMS: dict[str, type[StrEnum]] = {
    "role": Role,
    "area_level": AreaLevel,
    "gender": child_models.Gender,
    "child_category": child_models.Category,
    "risk_level": child_models.RiskLevel,
    "child_status": child_models.ChildStatus,
    "closed_reason": child_models.ClosedReason,
    "parent_situation": child_models.ParentSituation,
    "enrolment_status": child_models.EnrolmentStatus,
    "subsidy_kind": child_models.SubsidyKind,
    "risk_source": child_models.RiskSource,
    "child_event_kind": child_models.ChildEventKind,
    "helper_kind": care.HelperKind,
    "pairing_status": care.PairingStatus,
    "pairing_end_reason": care.PairingEndReason,
    "contact_kind": care.ContactKind,
    "case_reason": care.CaseReason,
    "case_status": care.CaseStatus,
    "case_outcome": care.CaseOutcome,
    "assessment_domain": care.AssessmentDomain,
    "assessment_level": care.AssessmentLevel,
    "measure_kind": care.MeasureKind,
    "measure_status": care.MeasureStatus,
    "case_event_kind": care.CaseEventKind,
    "duty_kind": care.DutyKind,
    "alert_kind": care.AlertKind,
    "benefit_category": benefit.BenefitCategory,
    "application_status": benefit.ApplicationStatus,
    "application_source": benefit.ApplicationSource,
    "application_event_kind": benefit.ApplicationEventKind,
    "category_review_decision": benefit.CategoryReviewDecision,
    "category_county_decision": benefit.CategoryCountyDecision,
    "removal_reason": benefit.RemovalReason,
    "payment_kind": benefit.PaymentKind,
}


async def test_every_enum_has_both_labels(client, world):
    r = await client.get("/api/v1/meta/enums", headers=world["reporter"].headers)
    assert r.status_code == 200
    served = r.json()
    for name, enum in ENUMS.items():
        options = {o["value"]: o for o in served[name]}
        assert set(options) == {e.value for e in enum}, name
        for option in options.values():
            assert option["label_zh"] and option["label_en"], (name, option)
    assert served["child_category"][0] == {
        "value": "left_behind",
        "label_zh": "农村留守儿童",
        "label_en": "Rural left-behind child",
    }


async def test_enums_need_a_token(client):
    assert (await client.get("/api/v1/meta/enums")).status_code == 401
