"""Human-in-the-loop details (Airflow 3.1+'s ``HITLDetail`` and friends), field by field as
the official client 3.3.2 reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from leoflow.engine.api.models.common import ApiModel, BodyModel
from leoflow.engine.api.models.task_instances import TaskInstanceResponse


class HITLUser(ApiModel):
    id: str
    name: str


class HITLDetail(ApiModel):
    task_instance: TaskInstanceResponse
    options: list[str] = Field(min_length=1)
    subject: str
    body: str | None = None
    defaults: list[str] | None = None
    multiple: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    assigned_users: list[HITLUser] = Field(default_factory=list)
    created_at: datetime
    responded_by_user: HITLUser | None = None
    responded_at: datetime | None = None
    chosen_options: list[str] | None = None
    params_input: dict[str, Any] = Field(default_factory=dict)
    response_received: bool = False


class HITLDetailCollection(ApiModel):
    hitl_details: list[HITLDetail]
    total_entries: int


class UpdateHITLDetailPayload(BodyModel):
    chosen_options: list[str] = Field(min_length=1)
    params_input: dict[str, Any] = Field(default_factory=dict)


class HITLDetailResponse(ApiModel):
    responded_by: HITLUser
    responded_at: datetime
    chosen_options: list[str] = Field(min_length=1)
    params_input: dict[str, Any] = Field(default_factory=dict)
