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
}
