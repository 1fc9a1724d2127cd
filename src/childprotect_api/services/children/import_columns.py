"""The columns of a screening (摸排) file and the words accepted in its cells.

Documented columns (header in Chinese or English; case, spaces and a `*` mark are ignored;
values are the codes of GET /meta/enums or their Chinese labels):

- name * (姓名, 儿童姓名); area_code * (村代码, 村(居)代码, 行政区划代码): the village, 12 digits
- gender (性别: 男/女, male/female) and birth_date (出生日期: 2015-03-14, 2015/3/14,
  20150314, 2015年3月14日 or a date cell): read from the ID number when blank
- id_number (身份证号, 身份证号码, 公民身份号码)
- categories (类别, 儿童类别): separated by `;` `；` `、` or `,`
- father_situation, mother_situation (父亲状况, 母亲状况: 外出务工, 在家, 死亡, 服刑, 重病或重残,
  失联, 不详, ...); father_work_place, mother_work_place (父亲务工地点, 母亲务工地点)
- school (学校), grade (年级), enrolment_status (就学状态: 在校, 辍学, 休学, 学龄前, ...),
  boarding (是否寄宿: 是/否)
- address (地址, 家庭住址), residence (居住地), household_registration (户籍), ethnicity (民族),
  family_situation (家庭情况), main_income_source (主要收入来源), health_notes (健康状况),
  disability_notes (残疾情况), risk_level (风险等级: 蓝/黄/橙/红), risk_reason (风险原因),
  pairing_helper_name (结对帮扶人), pairing_helper_phone (帮扶人电话)
"""

from __future__ import annotations

import re

from childprotect_api.core.errors import Unprocessable
from childprotect_api.models.child import Category, EnrolmentStatus, ParentSituation, RiskLevel
from childprotect_api.services.enums import ENUM_LABELS

REQUIRED = ("name", "area_code")

HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "儿童姓名"),
    "gender": ("性别",),
    "birth_date": ("出生日期", "出生年月日"),
    "area_code": ("村代码", "村(居)代码", "村居代码", "行政区划代码", "区划代码"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码"),
    "categories": ("类别", "儿童类别"),
    "ethnicity": ("民族",),
    "household_registration": ("户籍", "户籍地"),
    "residence": ("居住地",),
    "address": ("地址", "家庭住址", "住址"),
    "family_situation": ("家庭情况",),
    "main_income_source": ("主要收入来源", "家庭主要收入来源"),
    "father_situation": ("父亲状况", "父亲情况"),
    "father_work_place": ("父亲务工地点",),
    "mother_situation": ("母亲状况", "母亲情况"),
    "mother_work_place": ("母亲务工地点",),
    "school": ("学校", "就读学校"),
    "grade": ("年级", "就读年级"),
    "enrolment_status": ("就学状态", "就学情况"),
    "boarding": ("是否寄宿", "寄宿"),
    "health_notes": ("健康状况",),
    "disability_notes": ("残疾情况",),
    "risk_level": ("风险等级",),
    "risk_reason": ("风险原因",),
    "pairing_helper_name": ("结对帮扶人",),
    "pairing_helper_phone": ("帮扶人电话",),
}


def norm(header: object) -> str:
    text = str(header or "").strip().lower().replace("（", "(").replace("）", ")")
    return re.sub(r"[\s*＊]", "", text)


_BY_HEADER = {norm(h): name for name, aliases in HEADERS.items() for h in (name, *aliases)}


def _labels(enum_name: str, extra: dict[str, str]) -> dict[str, str]:
    """Value -> code for an enum: its codes, its Chinese labels (whole and before any
    parenthesis), and common short forms."""
    out: dict[str, str] = {}
    for code, (zh, en) in ENUM_LABELS[enum_name].items():
        for label in (code, zh, re.sub(r"\(.*\)$", "", norm(zh)), en):
            out[norm(label)] = code
    out.update({norm(k): v for k, v in extra.items()})
    return out


CATEGORIES = _labels(
    "child_category",
    {
        "留守儿童": Category.left_behind,
        "困境": Category.in_difficulty,
        "低保": Category.low_income,
        "低保儿童": Category.low_income,
        "残疾": Category.disabled,
        "事实无人抚养": Category.de_facto_unsupported,
        "流动": Category.migrant,
        "辍学": Category.dropout_risk,
        "闲散": Category.idle_youth,
    },
)
PARENT = _labels(
    "parent_situation",
    {
        "务工": ParentSituation.working_away,
        "外出": ParentSituation.working_away,
        "去世": ParentSituation.deceased,
        "已故": ParentSituation.deceased,
        "戒毒": ParentSituation.compulsory_rehab,
        "重病": ParentSituation.seriously_ill_or_disabled,
        "重残": ParentSituation.seriously_ill_or_disabled,
        "失踪": ParentSituation.missing,
        "未知": ParentSituation.unknown,
        "被遣送出境": ParentSituation.deported,
        "被驱逐出境": ParentSituation.deported,
    },
)
ENROLMENT = _labels(
    "enrolment_status", {"在读": EnrolmentStatus.enrolled, "毕业": EnrolmentStatus.graduated}
)
RISK = _labels(
    "risk_level",
    {
        "蓝": RiskLevel.blue,
        "黄": RiskLevel.yellow,
        "橙": RiskLevel.orange,
        "红": RiskLevel.red,
        # The labels before DESIGN.md "Terms" (spreadsheets made from older exports).
        "蓝色(关注)": RiskLevel.blue,
        "黄色(需关注)": RiskLevel.yellow,
        "橙色(严重)": RiskLevel.orange,
        "红色(危险)": RiskLevel.red,
    },
)
GENDER = {"男": "male", "女": "female", "m": "male", "f": "female", "1": "male", "2": "female"}
GENDER.update({"male": "male", "female": "female"})
YES = {"是", "y", "yes", "true", "1", "寄宿"}
NO = {"否", "n", "no", "false", "0", "走读"}


def map_columns(header: list[str]) -> tuple[dict[int, str], list[str]]:
    """Column index -> field, and the headers that name nothing we know."""
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for i, h in enumerate(header):
        name = _BY_HEADER.get(norm(h)) or _BY_HEADER.get(re.sub(r"\(.*\)$", "", norm(h)))
        if name is None:
            if str(h).strip():
                ignored.append(str(h).strip()[:64])
            continue
        if name in columns.values():
            raise Unprocessable.field(
                "file", f"has two columns for {name}", code="duplicate_column"
            )
        columns[i] = name
    missing = [n for n in REQUIRED if n not in columns.values()]
    if missing:
        raise Unprocessable.field(
            "file",
            "lacks the required columns: " + ", ".join(missing),
            code="missing_columns",
        )
    return columns, ignored
