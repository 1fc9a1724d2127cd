from __future__ import annotations

from pydantic import BaseModel


class EnumOption(BaseModel):
    value: str
    label_zh: str
    label_en: str
