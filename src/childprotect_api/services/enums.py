"""Every enum of the API with its Chinese and English labels, served by GET /api/v1/meta/enums
for the app's forms. Each feature adds its enums here."""

from __future__ import annotations

# enum name -> value -> (中文, English)
ENUM_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "role": {
        "village_director": ("儿童主任", "Village child director"),
        "township_supervisor": ("儿童督导员", "Township child supervisor"),
        "county_officer": ("县级未成年人保护工作人员", "County minor-protection officer"),
        "reporter": ("强制报告责任人", "Mandatory reporter"),
        "auditor": ("监督检查人员", "Auditor"),
        "admin": ("系统管理员", "Administrator"),
    },
    "area_level": {
        "province": ("省", "Province"),
        "city": ("市", "City"),
        "county": ("县(区)", "County"),
        "township": ("乡镇(街道)", "Township"),
        "village": ("村(居)", "Village"),
    },
    "risk_level": {
        "blue": ("蓝色(关注)", "Blue: watch"),
        "yellow": ("黄色(需关注)", "Yellow: needs attention"),
        "orange": ("橙色(严重)", "Orange: serious"),
        "red": ("红色(危险)", "Red: in danger"),
    },
    "visit_kind": {
        "home": ("入户探访", "Home visit"),
        "phone": ("电话随访", "Phone call"),
        "school": ("到校探访", "School visit"),
        "other": ("其他", "Other"),
    },
    "visit_status": {
        "submitted": ("已提交", "Submitted"),
        "accepted": ("已审核通过", "Accepted"),
        "returned": ("已退回", "Returned"),
    },
    "visit_review_decision": {
        "accept": ("通过", "Accept"),
        "return": ("退回修改", "Return"),
    },
    "checklist_item": {
        "living_conditions": ("生活条件", "Living conditions"),
        "health": ("身体健康", "Health"),
        "schooling": ("就学情况", "Schooling"),
        "guardian_present": ("监护人在场", "Guardian present"),
        "caregiver_capacity": ("照料人监护能力", "Caregiver's capacity"),
        "safety_hazards": ("安全隐患", "Safety hazards"),
        "emotional_state": ("心理情绪", "Emotional state"),
    },
    "checklist_rating": {
        "good": ("良好", "Good: no concern"),
        "fair": ("一般", "Fair: minor concern"),
        "poor": ("较差", "Poor: needs follow-up"),
        "critical": ("危急", "Critical: act today"),
        "not_applicable": ("不适用", "Not applicable"),
    },
}
