"""The registry of register kinds: what each register holds, in which Chinese column order,
from which rows, and who may export it. A new register is one more entry in REGISTERS (as
`payments` was): a query over its table joined to what its columns show, and its columns.

Each query selects the records of one table; the export adds the scope filter on that
table's `area_code`/`county_code`, the period on `period`, and orders by area, `order` and
id. Columns read the selected row by attribute (labelled columns of the query)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, func, select

from childprotect_api.models.activity import Activity
from childprotect_api.models.agreement import Agreement
from childprotect_api.models.benefit import BenefitPayment
from childprotect_api.models.care import Case, Pairing
from childprotect_api.models.child import Child
from childprotect_api.models.report import Report
from childprotect_api.models.visit import Visit
from childprotect_api.security.scope import Action
from childprotect_api.services.children.id_numbers import age_on
from childprotect_api.services.children.rules import today as china_today
from childprotect_api.services.registers.columns import (
    Column,
    area_cols,
    col,
    day,
    enum_col,
    label,
    labels,
    moment,
    yes_no,
)


def _t(model: Any) -> Table:
    table: Table = model.__table__
    return table


CHILDREN = _t(Child)
VISITS = _t(Visit)
AGREEMENTS = _t(Agreement)
PAIRINGS = _t(Pairing)
CASES = _t(Case)
ACTIVITIES = _t(Activity)
REPORTS = _t(Report)
PAYMENTS = _t(BenefitPayment)


@dataclass(frozen=True)
class RegisterKind:
    name: str
    zh: str
    en: str
    table: Table  # the records counted: its area_code/county_code carry the scope
    query: Callable[[], Select[Any]]
    period: Any  # the column `from`/`to` filter on
    period_zh: str
    order: Any  # after the area code, before the id
    columns: tuple[Column, ...]
    action: Action = Action.registers_export
    # Filters besides area and period this kind takes (`category` for children).
    filters: frozenset[str] = frozenset()


def _seq(r: Any, _c: Any) -> int:
    seq: int = r.seq
    return seq


SEQ = Column("seq", "序号", "No.", _seq)


def _child_cols() -> list[Column]:
    """The child a record is about, as every register of records about a child names it."""
    return [
        col("child_name", "儿童姓名", "Child's name"),
        Column(
            "child_id_number",
            "儿童身份证号",
            "Child's ID number",
            lambda r, c: c.id_number(r.child_id_number_enc, r.child_id_number_masked),
        ),
    ]


def _with_child(table: Table) -> Select[Any]:
    return select(
        table,
        CHILDREN.c.name.label("child_name"),
        CHILDREN.c.id_number_enc.label("child_id_number_enc"),
        CHILDREN.c.id_number_masked.label("child_id_number_masked"),
        CHILDREN.c.risk_level.label("child_risk_level"),
    ).join(CHILDREN, CHILDREN.c.id == table.c.child_id)


def _parent(which: str) -> Callable[[Any, Any], str | None]:
    def value(r: Any, _c: Any) -> str | None:
        parent = getattr(r, which) or {}
        return label("parent_situation", parent.get("situation"))

    return value


def _age(r: Any, _c: Any) -> int:
    return age_on(r.birth_date, china_today())


_CHILDREN = RegisterKind(
    name="children",
    zh="儿童信息台账",
    en="Children",
    table=CHILDREN,
    query=lambda: select(CHILDREN).where(CHILDREN.c.status == "active"),
    period=CHILDREN.c.created_at,
    period_zh="登记时间",
    order=CHILDREN.c.birth_date,
    filters=frozenset({"category"}),
    columns=(
        SEQ,
        *area_cols(),
        col("name", "姓名", "Name"),
        enum_col("gender", "性别", "Gender", "gender"),
        col("birth_date", "出生日期", "Date of birth"),
        Column("age", "年龄", "Age", _age),
        Column(
            "id_number",
            "身份证号",
            "ID number",
            lambda r, c: c.id_number(r.id_number_enc, r.id_number_masked),
        ),
        col("ethnicity", "民族", "Ethnicity"),
        Column(
            "categories",
            "儿童类别",
            "Categories",
            lambda r, _c: labels("child_category", r.categories),
        ),
        enum_col("risk_level", "风险等级", "Risk level", "risk_level"),
        Column("father_situation", "父亲状况", "Father's situation", _parent("father")),
        Column("mother_situation", "母亲状况", "Mother's situation", _parent("mother")),
        col("family_situation", "家庭情况", "Family situation"),
        col("main_income_source", "主要经济来源", "Main income source"),
        col("household_registration", "户籍地", "Household registration"),
        col("address", "现住址", "Address"),
        col("school", "就读学校", "School"),
        col("grade", "年级", "Grade"),
        enum_col("enrolment_status", "就学状况", "Enrolment", "enrolment_status"),
        col("boarding", "是否寄宿", "Boarding"),
        col("last_visit_at", "最近探访时间", "Last visit"),
        col("next_visit_due", "下次探访期限", "Next visit due"),
        col("created_at", "登记时间", "Registered at"),
        col("id", "儿童编号", "Child id", lambda r, _c: str(r.id)),
    ),
)


def _checklist(item: str) -> Callable[[Any, Any], str | None]:
    def value(r: Any, _c: Any) -> str | None:
        entry = (r.checklist or {}).get(item) or {}
        shown = label("checklist_rating", entry.get("rating"))
        if item == "guardian_present" and "present" in entry:
            shown = yes_no(entry["present"]) or label("checklist_rating", "not_applicable")
        note = entry.get("note")
        return f"{shown}：{note}" if shown and note else shown

    return value


def _follow_ups(r: Any, _c: Any) -> str:
    return "；".join(
        f"{a.get('action', '')}（{a.get('due_on', '')}前{'，已完成' if a.get('done') else ''}）"
        for a in r.follow_up_actions or ()
    )


# The visit form's items in the form's order (schemas/visit.py VisitChecklist).
CHECKLIST = (
    ("living_conditions", "Living conditions"),
    ("health", "Health"),
    ("schooling", "Schooling"),
    ("guardian_present", "Guardian present"),
    ("caregiver_capacity", "Caregiver's capacity"),
    ("safety_hazards", "Safety hazards"),
    ("emotional_state", "Emotional state"),
)

_VISITS = RegisterKind(
    name="visits",
    zh="探访台账",
    en="Visits",
    table=VISITS,
    query=lambda: _with_child(VISITS).where(VISITS.c.is_current),
    period=VISITS.c.visited_at,
    period_zh="探访时间",
    order=VISITS.c.visited_at,
    columns=(
        SEQ,
        *area_cols(),
        *_child_cols(),
        col("visited_at", "探访时间", "Visited at"),
        enum_col("kind", "探访方式", "Kind", "visit_kind"),
        Column("visitor", "探访人", "Visitor", lambda r, c: c.user(r.visitor_id)),
        *(
            Column(item, label("checklist_item", item) or item, en, _checklist(item))
            for item, en in CHECKLIST
        ),
        col("notes", "探访情况", "Notes"),
        enum_col("suggested_risk_level", "建议风险等级", "Suggested risk level", "risk_level"),
        Column("follow_up_actions", "后续措施", "Follow-up actions", _follow_ups),
        enum_col("status", "审核状态", "Review status", "visit_status"),
        col("review_comment", "审核意见", "Review comment"),
        Column("reviewed_by", "审核人", "Reviewed by", lambda r, c: c.user(r.reviewed_by)),
        col("reviewed_at", "审核时间", "Reviewed at"),
        col("revision", "修订次数", "Revision"),
        Column("id", "探访编号", "Visit id", lambda r, _c: str(r.original_id)),
    ),
)

_AGREEMENTS = RegisterKind(
    name="agreements",
    zh="委托照护协议台账",
    en="Guardianship agreements",
    table=AGREEMENTS,
    query=lambda: _with_child(AGREEMENTS),
    period=AGREEMENTS.c.starts_on,
    period_zh="协议起始日期",
    order=AGREEMENTS.c.starts_on,
    columns=(
        SEQ,
        *area_cols(),
        *_child_cols(),
        col("guardian_name", "委托监护人姓名", "Guardian's name"),
        enum_col("guardian_relation", "与儿童关系", "Guardian's relation", "guardian_relation"),
        col("guardian_phone", "监护人联系电话", "Guardian's phone"),
        Column(
            "guardian_id_number",
            "监护人身份证号",
            "Guardian's ID number",
            lambda r, c: c.id_number(r.guardian_id_number_enc, r.guardian_id_number_masked),
        ),
        col("guardian_work_place", "务工地点", "Guardian's work place"),
        col("guardian_away_since", "外出时间", "Away since"),
        col("caregiver_name", "被委托照护人姓名", "Caregiver's name"),
        enum_col(
            "caregiver_relation", "照护人与儿童关系", "Caregiver's relation", "caregiver_relation"
        ),
        col("caregiver_phone", "照护人联系电话", "Caregiver's phone"),
        Column(
            "caregiver_id_number",
            "照护人身份证号",
            "Caregiver's ID number",
            lambda r, c: c.id_number(r.caregiver_id_number_enc, r.caregiver_id_number_masked),
        ),
        col("caregiver_address", "照护人住址", "Caregiver's address"),
        col("starts_on", "起始日期", "Starts on"),
        col("ends_on", "终止日期", "Ends on"),
        enum_col("status", "协议状态", "Status", "agreement_status"),
        col("activated_at", "生效时间", "Activated at"),
        enum_col(
            "termination_reason", "终止原因", "Termination reason", "agreement_termination_reason"
        ),
        col("id", "协议编号", "Agreement id", lambda r, _c: str(r.id)),
    ),
)

_PAIRINGS = RegisterKind(
    name="pairings",
    zh="结对帮扶台账",
    en="Pairings",
    table=PAIRINGS,
    query=lambda: _with_child(PAIRINGS),
    period=PAIRINGS.c.starts_on,
    period_zh="帮扶开始日期",
    order=PAIRINGS.c.starts_on,
    columns=(
        SEQ,
        *area_cols(),
        *_child_cols(),
        enum_col("child_risk_level", "风险等级", "Risk level", "risk_level"),
        col("helper_name", "帮扶人姓名", "Helper's name"),
        enum_col("helper_kind", "帮扶人类别", "Helper kind", "helper_kind"),
        col("helper_phone", "帮扶人联系电话", "Helper's phone"),
        col("starts_on", "开始日期", "Starts on"),
        col("ends_on", "结束日期", "Ends on"),
        enum_col("status", "帮扶状态", "Status", "pairing_status"),
        enum_col("end_reason", "结束原因", "End reason", "pairing_end_reason"),
        col("note", "备注", "Note"),
        col("id", "结对编号", "Pairing id", lambda r, _c: str(r.id)),
    ),
)


def _domain(domain: str) -> Callable[[Any, Any], str | None]:
    def value(r: Any, _c: Any) -> str | None:
        entry = (r.assessment or {}).get(domain) or {}
        return label("assessment_level", entry.get("level"))

    return value


_DOMAINS = (
    ("safety", "Safety"),
    ("guardianship", "Guardianship"),
    ("living", "Living conditions"),
    ("health", "Health"),
    ("education", "Education"),
    ("psychology", "Psychology"),
)

_CASES = RegisterKind(
    name="cases",
    zh="个案台账（一人一案）",
    en="Cases",
    table=CASES,
    query=lambda: _with_child(CASES),
    period=CASES.c.created_at,
    period_zh="立案时间",
    order=CASES.c.created_at,
    columns=(
        SEQ,
        *area_cols(),
        *_child_cols(),
        enum_col("child_risk_level", "风险等级", "Risk level", "risk_level"),
        col("created_at", "立案时间", "Opened at"),
        enum_col("reason", "立案原因", "Reason", "case_reason"),
        col("summary", "基本情况", "Summary"),
        Column("owner", "个案负责人", "Owner", lambda r, c: c.user(r.owner_id)),
        *(
            Column(
                f"assessment_{d}",
                f"评估：{label('assessment_domain', d)}",
                f"Assessment: {en}",
                _domain(d),
            )
            for d, en in _DOMAINS
        ),
        col("review_on", "下次复评日期", "Review on"),
        enum_col("status", "个案状态", "Status", "case_status"),
        enum_col("outcome", "结案结果", "Outcome", "case_outcome"),
        col("closed_at", "结案时间", "Closed at"),
        col("id", "个案编号", "Case id", lambda r, _c: str(r.id)),
    ),
)

_ACTIVITIES = RegisterKind(
    name="activities",
    zh="关爱服务活动台账",
    en="Care activities",
    table=ACTIVITIES,
    query=lambda: select(ACTIVITIES),
    period=ACTIVITIES.c.held_on,
    period_zh="活动日期",
    order=ACTIVITIES.c.held_on,
    columns=(
        SEQ,
        Column("area", "开展地区", "Area", lambda r, c: c.area(r.area_code)),
        col("held_on", "活动日期", "Held on"),
        enum_col("kind", "活动类型", "Kind", "activity_kind"),
        col("title", "活动名称", "Title"),
        col("place", "活动地点", "Place"),
        col("organiser", "组织单位", "Organiser"),
        enum_col("organiser_kind", "组织单位类型", "Organiser kind", "activity_organiser_kind"),
        col("participants", "参与人次", "Participants"),
        col("children_served", "服务儿童人次", "Children served"),
        col("amount", "投入金额（元）", "Amount (yuan)"),
        col("goods", "发放物资", "Goods"),
        col("notes", "备注", "Notes"),
        col("id", "活动编号", "Activity id", lambda r, _c: str(r.id)),
    ),
)

_REPORTS = RegisterKind(
    name="reports",
    zh="强制报告台账",
    en="Mandatory reports",
    table=REPORTS,
    query=lambda: select(REPORTS, CHILDREN.c.name.label("child_name")).outerjoin(
        CHILDREN, CHILDREN.c.id == REPORTS.c.child_id
    ),
    period=REPORTS.c.created_at,
    period_zh="报告时间",
    order=REPORTS.c.created_at,
    action=Action.registers_reports,
    columns=(
        SEQ,
        *area_cols(),
        col("created_at", "报告时间", "Reported at"),
        enum_col("situation", "报告情形", "Situation", "report_situation"),
        col("description", "情况描述", "Description"),
        col("occurred_at", "发生时间", "Occurred at"),
        col("discovered_at", "发现时间", "Discovered at"),
        col("place_description", "发生地点", "Place"),
        enum_col("reporter_sector", "报告主体", "Reporter's sector", "reporter_sector"),
        col("police_notified", "是否已报警", "Police notified"),
        col("urgent", "是否紧急", "Urgent"),
        col("child_name", "儿童姓名", "Child's name"),
        Column(
            "child_id_number",
            "儿童身份证号",
            "Child's ID number",
            lambda r, c: c.id_number(r.child_id_number_enc, r.child_id_number_masked),
        ),
        enum_col("status", "办理状态", "Status", "report_status"),
        col("accepted_at", "受理时间", "Accepted at"),
        col("first_referral_at", "首次转介时间", "First referral at"),
        col("closed_at", "办结时间", "Closed at"),
        enum_col("outcome", "处理结果", "Outcome", "report_outcome"),
        col("id", "报告编号", "Report id", lambda r, _c: str(r.id)),
    ),
)


def _payment_type(r: Any, _c: Any) -> str:
    return "月度" if r.period is not None else "一次性"


def _entered_by(r: Any, c: Any) -> str | None:
    """The officer who wrote the payment, or the integration (a `subsidies:write` client)."""
    if r.created_by_client is not None:
        return "数据接口"
    return c.user(r.created_by)


_PAID_DAY = func.coalesce(PAYMENTS.c.paid_on, PAYMENTS.c.month)

_PAYMENTS = RegisterKind(
    name="payments",
    zh="补贴发放台账",
    en="Benefit payments",
    table=PAYMENTS,
    query=lambda: _with_child(PAYMENTS).add_columns(
        CHILDREN.c.categories.label("child_categories")
    ),
    # As the statistics count a payment (services/stats/queries.py): a monthly one on the
    # first day of its month, a one-off on the day it was paid.
    period=_PAID_DAY,
    period_zh="发放月份（一次性发放为发放日期）",
    order=_PAID_DAY,
    columns=(
        SEQ,
        *area_cols(),
        *_child_cols(),
        Column(
            "child_categories",
            "儿童类别",
            "Child's categories",
            lambda r, _c: labels("child_category", r.child_categories),
        ),
        enum_col("kind", "发放项目", "Kind", "payment_kind"),
        Column("payment_type", "发放类型", "Monthly or one-off", _payment_type),
        Column("month", "所属月份", "Month", lambda r, _c: r.month.strftime("%Y-%m")),
        col("paid_on", "发放日期", "Paid on"),
        col("amount", "金额（元）", "Amount (yuan)"),
        col("note", "备注", "Note"),
        Column("entered_by", "录入人", "Entered by", _entered_by),
        col("created_at", "录入时间", "Entered at"),
        col("id", "发放编号", "Payment id", lambda r, _c: str(r.id)),
    ),
)

REGISTERS: dict[str, RegisterKind] = {
    k.name: k
    for k in (
        _CHILDREN,
        _VISITS,
        _AGREEMENTS,
        _PAIRINGS,
        _CASES,
        _ACTIVITIES,
        _PAYMENTS,
        _REPORTS,
    )
}

# Kept for the formatters some columns use directly.
__all__ = ["REGISTERS", "RegisterKind", "day", "moment"]
