from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ReportPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accept_within_hours: int = Field(ge=1, le=720, description="Accept within (hours).")
    first_referral_within_hours: int = Field(
        ge=1, le=2160, description="First referral within (hours after receipt)."
    )

    @model_validator(mode="after")
    def _referral_after_acceptance(self) -> ReportPolicyUpdate:
        if self.first_referral_within_hours < self.accept_within_hours:
            raise ValueError("first_referral_within_hours must not be shorter than acceptance")
        return self


class ReportPolicyRead(BaseModel):
    county_code: str
    accept_within_hours: int
    first_referral_within_hours: int
    is_default: bool = Field(description="True while the county uses the national defaults.")
