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
}
