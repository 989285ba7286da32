"""Human-in-the-loop operators: a task that waits for a person's answer (Airflow 3.1+).

``HITLOperator`` asks ``subject`` (and ``body``) with a set of ``options`` and an optional
form (``params``); ``ApprovalOperator`` asks Approve/Reject (Reject skips its direct
downstream tasks); ``HITLBranchOperator`` follows the chosen options as branches;
``HITLEntryOperator`` asks for ``params`` only (one option, "OK").

How it waits (docs/airflow-compat.md, "Human in the loop"): ``execute`` calls the
``notifiers`` and defers to a ``hitl`` trigger that carries the whole request. The control
plane stores the request, shows the task as ``awaiting_input`` (no process, no slot), and
the trigger fires when someone answers (``PATCH /api/v2/.../hitlDetails`` or the IDE's
form) or when ``response_timeout`` passes: with ``defaults`` the defaults are the answer,
without them the task fails with ``HITLTimeoutError``. The try then resumes in
``execute_complete`` with the answer, whose return value is the task's XCom:
``{"chosen_options", "params_input", "responded_at", "responded_by_user"}``.

Standard library only (this runs in the DAG's own environment).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlparse, urlunparse

from leoflow.sdk.baseoperator import BaseOperator
from leoflow.sdk.errors import AirflowException, DagDefinitionError
from leoflow.sdk.location import user_frame_location
from leoflow.sdk.notifier import BaseNotifier, task_logger
from leoflow.sdk.params import NOTSET, Param
from leoflow.sdk.triggers import BaseTrigger, iso_moment

HITL_TRIGGER_KIND = "hitl"
DEFAULT_POKE_INTERVAL = 5.0  # seconds between store checks when no nudge arrives (Airflow's)


def _where() -> dict[str, Any]:
    file, line = user_frame_location()
    return {"file": file, "line": line}


class HITLTimeoutError(AirflowException):
    """Nobody answered before ``response_timeout`` and the task has no ``defaults``."""


class HITLTriggerEventError(AirflowException):
    """The wait ended with an error other than a timeout."""


class HITLRejectException(AirflowException):
    """``ApprovalOperator(fail_on_reject=True)`` received "Reject"."""


def serialize_param(value: Any) -> dict[str, Any]:
    """A form field as Airflow 3.1.3+ serializes it: ``{value, description, schema, source}``."""
    if isinstance(value, Param):
        return {"value": None if value.value is NOTSET else value.value,
                "description": value.description, "schema": dict(value.schema),
                "source": "task"}
    return {"value": value, "description": None, "schema": {}, "source": "task"}


class Choices(list):
    """A HITL task's ``options``: Airflow's list of choices, a plain list to DAG authors.

    ``BaseOperator.options`` is, for every other operator, the dict of dag.json's operator
    options, and the serializer reads it with ``.items()``; Airflow's name wins here, so the
    list also answers ``items()`` with its operator's dag.json options."""

    def __init__(self, values: Sequence[str], operator_options: dict[str, Any]) -> None:
        super().__init__(values)
        self.operator_options = operator_options

    def items(self) -> Any:
        return self.operator_options.items()


class HITLTrigger(BaseTrigger):
    """What a human-in-the-loop task waits for; run by the control plane (kind ``hitl``).

    ``kwargs`` carry the request (subject, body, options, defaults, multiple, params,
    assigned_users) so that the control plane can store it with the wait, and
    ``timeout_datetime`` (when the defaults apply)."""

    kind = HITL_TRIGGER_KIND

    def __init__(self, *, options: list[str], params: Mapping[str, Any] | None = None,
                 defaults: list[str] | None = None, multiple: bool = False,
                 timeout_datetime: datetime | None = None, subject: str = "",
                 body: str | None = None, assigned_users: list[dict[str, str]] | None = None,
                 poke_interval: float = DEFAULT_POKE_INTERVAL, **_: Any) -> None:
        self.options = list(options)
        self.params = {k: (v if isinstance(v, dict) and "schema" in v else serialize_param(v))
                       for k, v in (params or {}).items()}
        self.defaults = None if defaults is None else list(defaults)
        self.multiple = bool(multiple)
        self.timeout_datetime = timeout_datetime
        self.subject = subject
        self.body = body
        self.assigned_users = list(assigned_users or [])
        self.poke_interval = float(poke_interval)

    def trigger_kwargs(self) -> dict[str, Any]:
        return {"subject": self.subject, "body": self.body, "options": self.options,
                "defaults": self.defaults, "multiple": self.multiple, "params": self.params,
                "assigned_users": self.assigned_users,
                "timeout_datetime": (iso_moment(self.timeout_datetime)
                                     if self.timeout_datetime else None),
                "poke_interval": self.poke_interval}


class HITLOperator(BaseOperator):
    """Ask a person; see the module docstring.

    ``execution_timeout`` without ``response_timeout`` is taken as the response timeout
    (deprecated in Airflow, still honoured), so that it cannot stop the task before it waits.
    """

    operator_kind = "python"
    template_fields: Sequence[str] = ("subject", "body")

    def __init__(self, *, task_id: str, subject: str, options: list[str],
                 body: str | None = None, defaults: str | list[str] | None = None,
                 multiple: bool = False, params: Mapping[str, Any] | None = None,
                 notifiers: Sequence[BaseNotifier] | BaseNotifier | None = None,
                 assigned_users: dict[str, str] | list[dict[str, str]] | None = None,
                 response_timeout: timedelta | float | None = None, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if self.execution_timeout and response_timeout is None:
            warnings.warn("Passing `execution_timeout` to HITLOperator to control the human "
                          "response wait is deprecated. Use `response_timeout` instead.",
                          DeprecationWarning, stacklevel=2)
            response_timeout = self.execution_timeout
            self.execution_timeout = None
        if isinstance(response_timeout, timedelta):
            response_timeout = response_timeout.total_seconds()
        if response_timeout is not None and (
                isinstance(response_timeout, bool)
                or not isinstance(response_timeout, (int, float)) or response_timeout < 0):
            self._fail(f"response_timeout must be a timedelta or a number of seconds >= 0, "
                       f"got {response_timeout!r}")
        self.response_timeout: float | None = (None if response_timeout is None
                                               else float(response_timeout))
        self.subject = subject
        self.body = body
        # ``options`` is Airflow's list of choices; dag.json's operator options live in
        # ``operator_options`` (see ``Choices``)
        self.operator_options: dict[str, Any] = {}
        # a list where BaseOperator declares the dict of dag.json's options: Choices answers
        # items() with that dict, which is all the serializer reads
        self.options = Choices(  # type: ignore[assignment]
            options or [], self.operator_options)
        self.defaults = [defaults] if isinstance(defaults, str) else (
            None if defaults is None else list(defaults))
        self.multiple = bool(multiple)
        self.params: dict[str, Any] = dict(params or {})
        self.notifiers: list[BaseNotifier] = (
            [notifiers] if isinstance(notifiers, BaseNotifier) else list(notifiers or []))
        self.assigned_users = ([assigned_users] if isinstance(assigned_users, dict)
                               else list(assigned_users or []))
        self.validate_options()
        self.validate_params()
        self.validate_defaults()
        self.validate_assigned_users()
        self.hitl_summary_extra: dict[str, Any] = {}

    def _fail(self, message: str) -> None:
        raise DagDefinitionError(f"{type(self).__name__}({self.task_id!r}): {message}",
                                 file=self.fileloc, line=self.line)

    # -- checks made when the DAG file is read (Airflow's, with file and line) --------------
    def validate_options(self) -> None:
        if not self.options:
            self._fail('"options" cannot be empty.')
        if not all(isinstance(o, str) for o in self.options):
            self._fail(f'"options" must be strings, got {self.options!r}')

    def validate_params(self) -> None:
        if "_options" in self.params:
            self._fail('"_options" is not allowed in params')

    def validate_defaults(self) -> None:
        if self.defaults is None:
            return
        if not set(self.defaults).issubset(self.options):
            self._fail(f'defaults "{self.defaults}" should be a subset of options '
                       f'"{self.options}"')
        if not self.multiple and len(self.defaults) > 1:
            self._fail('More than one defaults given when "multiple" is set to False.')

    def validate_assigned_users(self) -> None:
        for user in self.assigned_users:
            if not (isinstance(user, Mapping) and isinstance(user.get("id"), str)
                    and isinstance(user.get("name"), str)):
                self._fail(f'each of "assigned_users" needs an "id" and a "name" (strings), '
                           f"got {user!r}")

    # -- run time --------------------------------------------------------------------------
    @property
    def log(self) -> Any:
        return task_logger(type(self).__name__)

    def runs_execute(self) -> bool:
        """The task runs this ``execute`` (it is not a callable), and its template fields
        (``subject``, ``body``) are rendered before it."""
        return True

    @property
    def serialized_params(self) -> dict[str, dict[str, Any]]:
        return {name: serialize_param(value) for name, value in self.params.items()}

    @property
    def hitl_summary(self) -> dict[str, Any]:
        return {"subject": self.subject, "body": self.body, "options": self.options,
                "defaults": self.defaults, "multiple": self.multiple,
                "assigned_users": self.assigned_users,
                "serialized_params": self.serialized_params or None,
                **self.hitl_summary_extra}

    def execute(self, context: dict[str, Any]) -> Any:
        """Notify, then wait for the answer without a process (the ``hitl`` trigger)."""
        timeout_at = None
        if self.response_timeout is not None:
            timeout_at = datetime.now(timezone.utc) + timedelta(seconds=self.response_timeout)
        self.hitl_summary_extra["timeout_datetime"] = (
            timeout_at.isoformat() if timeout_at else None)
        self.log.info("Waiting for response")
        for notifier in self.notifiers:
            notifier(context)
        self.defer(trigger=HITLTrigger(
            options=list(self.options), params=self.serialized_params, defaults=self.defaults,
            multiple=self.multiple, timeout_datetime=timeout_at, subject=str(self.subject),
            body=None if self.body is None else str(self.body),
            assigned_users=self.assigned_users),
            method_name="execute_complete", timeout=self.response_timeout)

    def execute_complete(self, context: dict[str, Any], event: dict[str, Any]) -> Any:
        """The answer arrived (or the timeout's defaults): check it; it becomes the XCom."""
        if "error" in event:
            self.hitl_summary_extra["error_type"] = event.get("error_type")
            self.process_trigger_event_error(event)
        chosen_options = list(event["chosen_options"])
        params_input = dict(event.get("params_input") or {})
        self.validate_chosen_options(chosen_options)
        self.validate_params_input(params_input)
        responder = event.get("responded_by_user")
        if responder:
            self.log.info("[HITL] responded_by=%s (id=%s) options=%s at %s",
                          responder.get("name"), responder.get("id"), chosen_options,
                          event.get("responded_at"))
        else:
            self.log.info("[HITL] timeout reached before receiving response, fallback to "
                          "default %s", chosen_options)
        self.hitl_summary_extra.update({
            "chosen_options": chosen_options, "params_input": params_input,
            "responded_at": event.get("responded_at"), "responded_by_user": responder})
        return {"chosen_options": chosen_options, "params_input": params_input,
                "responded_at": event.get("responded_at"), "responded_by_user": responder}

    def process_trigger_event_error(self, event: Mapping[str, Any]) -> None:
        if event.get("error_type") == "timeout":
            raise HITLTimeoutError(event)
        raise HITLTriggerEventError(event)

    def validate_chosen_options(self, chosen_options: list[str]) -> None:
        diff = set(chosen_options) - set(self.options)
        if diff:
            raise ValueError(f"Responses {diff} not in {self.options}")

    def validate_params_input(self, params_input: Mapping[str, Any]) -> None:
        if self.params and params_input and set(self.params) ^ set(params_input):
            raise ValueError(f"params_input {dict(params_input)} does not match params "
                             f"{sorted(self.params)}")
        for key, value in params_input.items():
            current = self.params.get(key)
            if isinstance(current, Param):
                current.value = value
            else:
                self.params[key] = value

    # -- links -----------------------------------------------------------------------------
    def generate_link_to_ui(self, *, task_instance: Any, base_url: str | None = None,
                            options: str | list[str] | None = None,
                            params_input: dict[str, Any] | None = None) -> str:
        """The "required actions" page of this task instance (Airflow's URL form); the base
        URL comes from ``base_url`` or ``AIRFLOW__API__BASE_URL``."""
        query: dict[str, Any] = {}
        chosen = [options] if isinstance(options, str) else options
        if chosen:
            diff = set(chosen) - set(self.options)
            if diff:
                raise ValueError(f"options {diff} are not valid options")
            query["_options"] = chosen
        if params_input:
            diff = set(params_input) - set(self.params)
            if diff:
                raise ValueError(f"params {diff} are not valid params")
            query.update(params_input)
        base_url = base_url or os.environ.get("AIRFLOW__API__BASE_URL")
        if not base_url:
            raise ValueError("Not able to retrieve base_url")
        query["map_index"] = task_instance.map_index
        parsed = urlparse(base_url)
        path = (f"/dags/{task_instance.dag_id}/runs/{task_instance.run_id}/tasks/"
                f"{task_instance.task_id}/required_actions")
        return urlunparse((parsed.scheme, parsed.netloc, path, "",
                           urlencode(query, doseq=True), ""))

    @staticmethod
    def generate_link_to_ui_from_context(*, context: Mapping[str, Any],
                                         base_url: str | None = None,
                                         options: list[str] | None = None,
                                         params_input: dict[str, Any] | None = None) -> str:
        task = context["task"]
        if not isinstance(task, HITLOperator):
            raise ValueError("This method only supports HITLOperator")
        return task.generate_link_to_ui(task_instance=context["task_instance"],
                                        base_url=base_url, options=options,
                                        params_input=params_input)


class ApprovalOperator(HITLOperator):
    """Approve or Reject. Reject skips the direct downstream tasks (all downstream tasks with
    ``ignore_downstream_trigger_rules=True``), or fails the task with ``fail_on_reject``."""

    # A short-circuit for the scheduler: "continue" is False on Reject.
    operator_kind = "short_circuit"
    FIXED_ARGS = ("options", "multiple")
    APPROVE = "Approve"
    REJECT = "Reject"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = False,
                 fail_on_reject: bool = False, **kwargs: Any) -> None:
        for arg in self.FIXED_ARGS:
            if arg in kwargs:
                raise DagDefinitionError(f"Passing {arg} to ApprovalOperator is not allowed.",
                                         **_where())
        self.ignore_downstream_trigger_rules = bool(ignore_downstream_trigger_rules)
        self.fail_on_reject = bool(fail_on_reject)
        super().__init__(options=[self.APPROVE, self.REJECT], multiple=False, **kwargs)
        # dag.json's options tell the scheduler how far a Reject skips
        self.operator_options["ignore_downstream_trigger_rules"] = (
            self.ignore_downstream_trigger_rules)
        self.short_circuit_decision: bool | None = None

    def execute_complete(self, context: dict[str, Any], event: dict[str, Any]) -> Any:
        ret = super().execute_complete(context, event)
        approved = ret["chosen_options"][0] == self.APPROVE
        self.hitl_summary_extra["approved"] = approved
        if approved:
            self.log.info("Approved. Proceeding with downstream tasks...")
            self.short_circuit_decision = True
            return ret
        if self.fail_on_reject:
            raise HITLRejectException('Receive "Reject"')
        self.log.info("Skipping downstream tasks")
        self.short_circuit_decision = False
        return ret


class HITLBranchOperator(HITLOperator):
    """The chosen options (through ``options_mapping``, else as they are) are the task ids
    to follow; the other direct downstream tasks are skipped. The XCom is that list."""

    operator_kind = "branch"

    def __init__(self, *, options_mapping: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options_mapping = dict(options_mapping or {})
        invalid = set(self.options_mapping) - set(self.options)
        if invalid:
            self._fail(f"`options_mapping` contains keys that are not in `options`: "
                       f"{sorted(invalid)}")
        bad = {k: v for k, v in self.options_mapping.items() if not isinstance(v, str)}
        if bad:
            self._fail(f"`options_mapping` values must be strings (task_ids). Invalid "
                       f"entries: {bad}")

    def execute_complete(self, context: dict[str, Any], event: dict[str, Any]) -> Any:
        ret = super().execute_complete(context, event)
        branches = [self.options_mapping.get(o, o) for o in ret["chosen_options"]]
        self.hitl_summary_extra["branches_to_execute"] = branches
        return branches


class HITLEntryOperator(HITLOperator):
    """Collects ``params`` through a form; its one option is "OK" (also the default)."""

    OK = "OK"

    def __init__(self, **kwargs: Any) -> None:
        if "options" not in kwargs:
            kwargs["options"] = [self.OK]
            kwargs.setdefault("defaults", [self.OK])
        super().__init__(**kwargs)
