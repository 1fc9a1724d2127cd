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
    "gender": {
        "male": ("男", "Male"),
        "female": ("女", "Female"),
    },
    "child_category": {
        "left_behind": ("农村留守儿童", "Rural left-behind child"),
        "in_difficulty": ("困境儿童", "Child in difficulty"),
        "orphan": ("孤儿", "Orphan"),
        "de_facto_unsupported": ("事实无人抚养儿童", "De facto unsupported child"),
        "low_income_disabled_or_ill": (
            "低保家庭重残重病儿童",
            "Low-income family, severely disabled or ill",
        ),
        "low_income": ("其他低保家庭儿童", "Other low-income family child"),
        "disabled": ("残疾儿童", "Disabled child"),
        "migrant": ("流动儿童", "Migrant child"),
        "street": ("流浪未成年人", "Street minor"),
        "parent_imprisoned": ("服刑在戒人员子女", "Child of an imprisoned or detained parent"),
        "dropout_risk": ("疑似辍学", "Suspected school dropout"),
        "serious_misconduct": ("有严重不良行为", "Serious misconduct"),
    },
    "parent_situation": {
        "at_home": ("在家", "At home"),
        "working_away": ("外出务工", "Working away"),
        "deceased": ("死亡", "Deceased"),
        "imprisoned": ("服刑", "Imprisoned"),
        "compulsory_rehab": ("强制隔离戒毒", "In compulsory drug rehabilitation"),
        "seriously_ill_or_disabled": ("重病或重残", "Seriously ill or disabled"),
        "missing": ("失联", "Missing"),
        "unknown": ("不详", "Unknown"),
    },
    "child_status": {
        "active": ("在册", "Active"),
        "closed": ("已销档", "Closed"),
    },
    "closed_reason": {
        "turned_18": ("年满18周岁", "Turned 18"),
        "moved_away": ("迁出", "Moved away"),
        "deceased": ("死亡", "Deceased"),
        "no_longer_eligible": ("不再符合条件", "No longer eligible"),
    },
    "enrolment_status": {
        "preschool": ("学龄前", "Pre-school age"),
        "kindergarten": ("在园", "In kindergarten"),
        "enrolled": ("在校", "Enrolled at school"),
        "suspended": ("休学", "Schooling suspended"),
        "dropped_out": ("辍学", "Dropped out"),
        "out_of_school": ("离校未升学", "Left school, not enrolled"),
    },
    "subsidy_kind": {
        "orphan_allowance": ("孤儿基本生活费", "Orphan basic living allowance"),
        "de_facto_unsupported_allowance": (
            "事实无人抚养儿童基本生活补贴",
            "Allowance for de facto unsupported children",
        ),
        "minimum_living_allowance": ("最低生活保障金", "Minimum living allowance (dibao)"),
        "disability_allowance": ("残疾人两项补贴", "Disability allowances"),
        "education_aid": ("教育资助", "Education aid"),
        "other": ("其他", "Other"),
    },
    "risk_source": {
        "manual": ("人工设定", "Set by staff"),
        "visit_review": ("探访审核", "Visit review"),
        "report": ("强制报告", "Mandatory report"),
        "import": ("导入", "Import"),
    },
    "child_event_kind": {
        "transferred": ("转移", "Transferred to another village"),
        "closed": ("销档", "Closed"),
        "reopened": ("恢复", "Reopened"),
    },
}
