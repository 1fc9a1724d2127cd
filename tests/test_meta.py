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


_HALF_WIDTH = "(),;:"
_FULL_WIDTH = "（），；："


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


async def test_chinese_labels_use_full_width_punctuation(client, world):
    """Every Chinese label served (enums, the statistics' figures) and every register header
    writes （）,，；： in full width: a half-width ( ) , ; : inside Chinese text is a typo."""
    from childprotect_api.services.registers.kinds import REGISTERS

    r = await client.get("/api/v1/meta/enums", headers=world["officer"].headers)
    labels = [(name, o["label_zh"]) for name, opts in r.json().items() for o in opts]
    labels += [(k.name, c.zh) for k in REGISTERS.values() for c in k.columns]
    labels += [(k.name, k.zh) for k in REGISTERS.values()]
    assert len(labels) > 300
    bad = [(n, t) for n, t in labels if _chinese(t) and any(ch in t for ch in _HALF_WIDTH)]
    assert not bad, bad


async def test_the_terms_of_care_work(client, world):
    """DESIGN.md "Terms": the new values, and labels that say what each risk level demands."""
    r = await client.get("/api/v1/meta/enums", headers=world["officer"].headers)
    served = {name: {o["value"]: o["label_zh"] for o in opts} for name, opts in r.json().items()}
    assert served["risk_level"] == {
        "blue": "蓝色（低风险，关注）",
        "yellow": "黄色（中风险，每月走访）",
        "orange": "橙色（高风险，每周走访+结对）",
        "red": "红色（紧急，立即干预）",
    }
    assert served["child_category"]["idle_youth"] == "闲散未成年人"
    for value in ("divorced", "restricted_liberty", "guardianship_revoked", "deported"):
        assert value in served["parent_situation"]
    assert served["enrolment_status"]["home_education"] == "送教上门"
    assert served["enrolment_status"]["inclusive_class"] == "随班就读"
    assert served["role"]["reporter"] == "强制报告义务人"
    assert served["agreement_status"]["active"] == "已生效"
    assert served["checklist_item"]["caregiver_capacity"] == "照护人照护能力"
    metrics = served["stats_metric"]
    assert metrics["children.category.dropout_risk"] == "在册疑似辍学儿童数"
    assert metrics["children.category.serious_misconduct"] == "在册有严重不良行为儿童数"
    assert metrics["visits.made.other"] == "期内其他方式探访次数"
    assert metrics["visits.coverage"] == "按期探访率"
    assert metrics["reports.status.submitted"] == "待受理报告数"
    assert not any("探访覆盖率" in label for label in metrics.values())
