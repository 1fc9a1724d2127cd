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
    "agreement_status": {
        "draft": ("草稿", "Draft"),
        "active": ("生效", "Active"),
        "expired": ("已到期", "Expired"),
        "terminated": ("已终止", "Terminated"),
    },
    "agreement_termination_reason": {
        "parent_returned": ("父母返乡", "Parent came home"),
        "caregiver_unable": ("被委托人无法继续照护", "Caregiver unable to continue"),
        "child_moved": ("儿童迁出", "Child moved"),
        "other": ("其他", "Other"),
    },
    "agreement_party": {
        "guardian": ("监护人(委托方)", "Guardian (entrusting parent)"),
        "caregiver": ("被委托照护人", "Entrusted caregiver"),
        "village_committee": ("村(居)民委员会", "Village committee"),
        "township": ("乡镇人民政府(街道办事处)", "Township government"),
    },
    "guardian_relation": {
        "father": ("父亲", "Father"),
        "mother": ("母亲", "Mother"),
        "other_guardian": ("其他监护人", "Other guardian"),
    },
    "caregiver_relation": {
        "paternal_grandparent": ("祖父母", "Paternal grandparent"),
        "maternal_grandparent": ("外祖父母", "Maternal grandparent"),
        "uncle_or_aunt": ("叔伯姑舅姨", "Uncle or aunt"),
        "adult_sibling": ("成年兄姐", "Adult sibling"),
        "other_relative": ("其他亲属", "Other relative"),
        "neighbour_or_friend": ("邻居或朋友", "Neighbour or friend"),
        "other": ("其他", "Other"),
    },
    "agreement_checklist_item": {
        "no_sexual_assault_record": ("无性侵害违法犯罪记录", "No record of sexual assault"),
        "no_abuse_record": ("无虐待违法犯罪记录", "No record of abuse"),
        "no_abandonment_record": ("无遗弃违法犯罪记录", "No record of abandonment"),
        "no_trafficking_record": ("无拐卖违法犯罪记录", "No record of trafficking"),
        "no_violence_record": ("无暴力伤害违法犯罪记录", "No record of violence"),
        "no_drug_habit": ("无吸毒恶习", "No drug habit"),
        "no_alcohol_habit": ("无酗酒恶习", "No alcohol habit"),
        "no_gambling_habit": ("无赌博恶习", "No gambling habit"),
        "never_refused_or_neglected_care": (
            "未曾拒不履行或长期怠于履行监护、照护职责",
            "Never refused or long neglected care duties",
        ),
    },
    "agreement_gap_kind": {
        "no_active_agreement": (
            "留守儿童无生效协议",
            "Left-behind child without an active agreement",
        ),
        "ending_soon": ("协议即将到期", "Agreement ending soon"),
    },
}
