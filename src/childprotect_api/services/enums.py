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
    "client_scope": {
        "children:read": ("读取儿童信息", "Read children"),
        "children:write": ("登记和更新儿童信息", "Register and update children"),
        "schooling:write": ("更新就学信息(控辍保学)", "Update schooling (enrolment, dropout)"),
        "subsidies:write": ("更新补贴发放信息", "Update subsidies"),
        "reports:write": ("提交强制报告", "File mandatory reports"),
        "reports:read": ("读取强制报告状态", "Read mandatory reports"),
        "stats:read": ("读取统计数据", "Read statistics"),
    },
    "webhook_event_type": {
        "report.submitted": ("收到强制报告", "Mandatory report submitted"),
        "report.overdue": ("强制报告处置超时", "Mandatory report overdue"),
        "child.risk_raised": ("儿童风险等级提高", "Child risk level raised"),
        "visit.overdue": ("探访逾期", "Visit overdue"),
        "agreement.expiring": ("委托照护协议即将到期", "Guardianship agreement expiring"),
        "child.transferred": ("儿童档案转移", "Child record transferred"),
    },
    "webhook_delivery_status": {
        "pending": ("待发送", "Pending"),
        "delivering": ("发送中", "Delivering"),
        "delivered": ("已送达", "Delivered"),
        "failed": ("发送失败,等待重试", "Failed, will retry"),
        "dead": ("已放弃", "Dead-lettered"),
    },
    "report_situation": {
        "genital_injury": (
            "生殖器官或隐私部位遭受或疑似遭受非正常损伤",
            "Injury to genitals or private parts",
        ),
        "sexual_assault_under_14": (
            "不满十四周岁的女性遭受或疑似遭受性侵害、怀孕、流产",
            "Girl under 14: sexual assault, pregnancy or abortion",
        ),
        "assault_pregnancy_14_plus": (
            "十四周岁以上女性遭受或疑似遭受性侵害所致怀孕、流产",
            "Girl 14 or over: pregnancy or abortion after sexual assault",
        ),
        "multiple_injuries_or_abuse": (
            "多处损伤、严重营养不良、意识不清，疑似受到家庭暴力、欺凌、虐待、殴打或被人麻醉",
            "Multiple injuries, severe malnutrition or unconsciousness; suspected violence, "
            "bullying, abuse or drugging",
        ),
        "abnormal_disability_or_death": (
            "因自杀、自残、工伤、中毒等非正常原因导致伤残、死亡",
            "Disability or death from abnormal causes (suicide, self-harm, work injury, poisoning)",
        ),
        "abandoned_or_no_care": ("被遗弃或长期处于无人照料状态", "Abandoned or long without care"),
        "missing_or_trafficked": (
            "来源不明、失踪或者被拐卖、收买",
            "Of unknown origin, missing, trafficked or bought",
        ),
        "organised_begging": ("被组织乞讨", "Organised begging"),
        "other_serious_harm": (
            "其他严重侵害身心健康的情形或正在面临不法侵害危险",
            "Other serious harm, or facing imminent unlawful harm",
        ),
    },
    "reporter_sector": {
        "village_committee": ("居(村)民委员会", "Village or residents' committee"),
        "school": ("中小学校", "School"),
        "kindergarten": ("幼儿园", "Kindergarten"),
        "tutoring": ("校外培训机构", "Tutoring institution"),
        "school_bus": ("校车服务提供者", "School-bus provider"),
        "childcare": ("托育服务机构", "Childcare provider"),
        "medical": ("医疗机构", "Medical institution"),
        "welfare_institution": (
            "儿童福利机构、救助管理机构",
            "Child welfare or relief institution",
        ),
        "social_work": ("社会工作服务机构", "Social work service"),
        "hotel": ("旅店、宾馆", "Hotel"),
        "other": ("其他", "Other"),
    },
    "report_status": {
        "submitted": ("已提交", "Submitted"),
        "accepted": ("已受理", "Accepted"),
        "referred": ("已转介", "Referred"),
        "closed": ("已办结", "Closed"),
    },
    "report_outcome": {
        "substantiated": ("情况属实", "Substantiated"),
        "unsubstantiated": ("经核实不属实", "Unsubstantiated"),
        "transferred_to_police_case": ("已移送公安机关立案", "Transferred to a police case"),
        "other": ("其他", "Other"),
    },
    "referral_target": {
        "police": ("公安机关", "Police"),
        "procuratorate": ("人民检察院", "Procuratorate"),
        "civil_affairs": ("民政部门", "Civil affairs"),
        "education": ("教育行政部门", "Education"),
        "health": ("卫生健康部门", "Health"),
        "womens_federation": ("妇联", "Women's federation"),
        "youth_league": ("共青团", "Youth league"),
        "disabled_persons_federation": ("残联", "Disabled persons' federation"),
        "court": ("人民法院", "Court"),
        "township_supervisor": ("乡镇(街道)儿童督导员", "Township child supervisor"),
        "village_director": ("村(居)儿童主任", "Village child director"),
        "other": ("其他", "Other"),
    },
    "referral_status": {
        "sent": ("已转介", "Sent"),
        "acknowledged": ("已接收", "Acknowledged"),
        "in_progress": ("处理中", "In progress"),
        "completed": ("已办结", "Completed"),
        "declined": ("不予受理", "Declined"),
    },
    "report_event_kind": {
        "submitted": ("提交报告", "Submitted"),
        "accepted": ("受理", "Accepted"),
        "referred": ("转介", "Referred"),
        "referral_status": ("转介进展", "Referral status"),
        "note": ("备注", "Note"),
        "child_linked": ("关联儿童档案", "Child linked"),
        "closed": ("办结", "Closed"),
        "overdue": ("超时", "Overdue"),
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
