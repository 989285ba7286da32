"""Airflow ``/api/v2`` about the server itself: ``/config`` (read-only, Leoflow's effective
non-secret settings), ``/providers`` (Leoflow's built-in operators and trigger kinds),
``/plugins`` (Leoflow loads no Airflow plugins: an empty list), ``/jobs`` (the scheduler),
and a task instance's ``/links`` (no operator extra links) and ``/externalLogUrl`` (logs
are served here, never by an external system: Airflow's 400 for a handler without one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from leoflow.engine.api.context import ApiContext
from leoflow.engine.api.errors import ApiError, NotFound
from leoflow.engine.api.models.common import (
    DEFAULT_PAGE_LIMIT,
    MAXIMUM_PAGE_LIMIT,
    ApiModel,
    Page,
    no_nul,
)
from leoflow.engine.api.routes.task_instance_paths import TIS, MapIndex, TryNumber, ti_not_found
from leoflow.engine.api.security import api_context, require
from leoflow.engine.auth.permissions import READ, Principal
from leoflow.engine.services import platform_info, task_instance_reads

router = APIRouter(prefix="/api/v2", dependencies=[Depends(no_nul)])


class ConfigOption(ApiModel):
    key: str
    value: str


class ConfigSection(ApiModel):
    name: str
    options: list[ConfigOption]


class Config(ApiModel):
    sections: list[ConfigSection]


class ProviderResponse(ApiModel):
    package_name: str
    description: str
    version: str
    documentation_url: str | None = None


class ProviderCollectionResponse(ApiModel):
    providers: list[ProviderResponse]
    total_entries: int


class PluginCollectionResponse(ApiModel):
    plugins: list[dict[str, Any]]
    total_entries: int


class PluginImportErrorCollectionResponse(ApiModel):
    import_errors: list[dict[str, Any]]
    total_entries: int


class JobResponse(ApiModel):
    id: int
    dag_id: str | None = None
    state: str | None = None
    job_type: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    latest_heartbeat: datetime | None = None
    executor_class: str | None = None
    hostname: str | None = None
    unixname: str | None = None
    dag_display_name: str | None = None


class JobCollectionResponse(ApiModel):
    jobs: list[JobResponse]
    total_entries: int


class ExtraLinkCollectionResponse(ApiModel):
    extra_links: dict[str, str | None]
    total_entries: int


def _sections(ctx: ApiContext) -> dict[str, dict[str, str]]:
    return platform_info.config_sections(ctx.services, version=ctx.version,
                                         page_limits=(DEFAULT_PAGE_LIMIT, MAXIMUM_PAGE_LIMIT))


def _as_text(sections: dict[str, dict[str, str]]) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()) + "\n"
                   for name, options in sections.items())


@router.get("/config", response_model=Config, tags=["Config"],
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def get_config(request: Request, section: str | None = None,
                     ctx: ApiContext = Depends(api_context),
                     principal: Principal = Depends(require(READ))) -> Any:
    """Every section (or ``section``), JSON or ``text/plain`` as Airflow answers."""
    sections = _sections(ctx)
    if section is not None:
        if section not in sections:
            raise NotFound(f"Section {section} not found.")
        sections = {section: sections[section]}
    if (request.headers.get("accept") or "").startswith("text/plain"):
        return PlainTextResponse(_as_text(sections))
    return Config(sections=[ConfigSection(name=name, options=[
        ConfigOption(key=k, value=v) for k, v in options.items()])
        for name, options in sections.items()])


@router.get("/config/section/{section}/option/{option}", response_model=Config,
            tags=["Config"])
async def get_config_value(request: Request, section: str, option: str,
                           ctx: ApiContext = Depends(api_context),
                           principal: Principal = Depends(require(READ))) -> Any:
    value = _sections(ctx).get(section, {}).get(option)
    if value is None:
        raise NotFound(f"Option [{section}/{option}] not found.")
    if (request.headers.get("accept") or "").startswith("text/plain"):
        return PlainTextResponse(_as_text({section: {option: value}}))
    return Config(sections=[ConfigSection(name=section,
                                          options=[ConfigOption(key=option, value=value)])])


@router.get("/providers", response_model=ProviderCollectionResponse, tags=["Provider"])
async def get_providers(page: Annotated[Page, Depends()],
                        ctx: ApiContext = Depends(api_context),
                        principal: Principal = Depends(require(READ))
                        ) -> ProviderCollectionResponse:
    found = platform_info.integrations(ctx.version)
    return ProviderCollectionResponse(
        providers=[ProviderResponse(package_name=i.package_name, description=i.description,
                                    version=i.version, documentation_url=i.documentation_url)
                   for i in found[page.offset:page.offset + page.limit]],
        total_entries=len(found))


@router.get("/plugins", response_model=PluginCollectionResponse, tags=["Plugin"])
async def get_plugins(page: Annotated[Page, Depends()],
                      principal: Principal = Depends(require(READ))) -> PluginCollectionResponse:
    """Leoflow loads no Airflow plugins (its operators are built in: see ``/providers``)."""
    return PluginCollectionResponse(plugins=[], total_entries=0)


@router.get("/plugins/importErrors", response_model=PluginImportErrorCollectionResponse,
            tags=["Plugin"])
async def import_errors(principal: Principal = Depends(require(READ))
                        ) -> PluginImportErrorCollectionResponse:
    return PluginImportErrorCollectionResponse(import_errors=[], total_entries=0)


@router.get("/jobs", response_model=JobCollectionResponse, tags=["Job"])
async def get_jobs(page: Annotated[Page, Depends()], job_type: str | None = None,
                   job_state: str | None = None, hostname: str | None = None,
                   is_alive: bool | None = None,
                   order_by: Annotated[list[str] | None, Query()] = None,
                   ctx: ApiContext = Depends(api_context),
                   principal: Principal = Depends(require(READ))) -> JobCollectionResponse:
    """This replica's scheduler as a ``SchedulerJob`` (Leoflow has no triggerer or DAG
    processor jobs: the trigger runner lives in the scheduler, DAGs are compiled once)."""
    job = platform_info.scheduler_job(ctx.services, started_at=ctx.started_at,
                                      now=datetime.now(UTC))
    response = JobResponse(id=job.id, job_type="SchedulerJob", state="running",
                           start_date=job.start_date, latest_heartbeat=job.latest_heartbeat,
                           executor_class="LeoflowExecutor", hostname=job.hostname,
                           unixname=job.unixname)
    keep = ((job_type in (None, "SchedulerJob")) and (job_state in (None, "running"))
            and (hostname in (None, job.hostname)) and (is_alive in (None, job.leading)))
    jobs = [response] if keep else []
    return JobCollectionResponse(jobs=jobs[page.offset:page.offset + page.limit],
                                 total_entries=len(jobs))


async def _instance(ctx: ApiContext, dag_id: str, run_id: str, task_id: str, map_index: int,
                    principal: Principal) -> None:
    run, ti = await task_instance_reads.instance(ctx.store, dag_id, run_id, task_id,
                                                 map_index, tenant=principal.tenant)
    if run is None:
        raise NotFound(f"DagRun with run_id: `{run_id}` was not found")
    if ti is None:
        raise ti_not_found(dag_id, run_id, task_id, map_index)


@router.get("/dags/{dag_id}" + TIS + "/{task_id}/links",
            response_model=ExtraLinkCollectionResponse, tags=["Extra Links", "Task Instance"])
async def get_extra_links(dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1,
                          ctx: ApiContext = Depends(api_context),
                          principal: Principal = Depends(require(READ))
                          ) -> ExtraLinkCollectionResponse:
    """A task's operator extra links: Leoflow's operators define none, so the map is empty
    for an instance that exists (404 as Airflow otherwise)."""
    await _instance(ctx, dag_id, dag_run_id, task_id, map_index, principal)
    return ExtraLinkCollectionResponse(extra_links={}, total_entries=0)


@router.get("/dags/{dag_id}" + TIS + "/{task_id}/externalLogUrl/{try_number}",
            tags=["Task Instance"], response_class=Response,
            responses={400: {"description": "logs are served by Leoflow itself"}})
async def get_external_log_url(dag_id: str, dag_run_id: str, task_id: str,
                               try_number: TryNumber, map_index: MapIndex = -1,
                               ctx: ApiContext = Depends(api_context),
                               principal: Principal = Depends(require(READ))) -> Response:
    """Airflow answers 400 when its log handler has no external viewer; Leoflow's logs are
    always read through ``…/logs/{try_number}``."""
    await _instance(ctx, dag_id, dag_run_id, task_id, map_index, principal)
    raise ApiError(400, "Task log handler does not support external logs: Leoflow serves "
                        "task logs itself at …/logs/{try_number}")
