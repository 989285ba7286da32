from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuthenticateRequest(_message.Message):
    __slots__ = ("hostname", "pid", "agent_version", "fetch")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    FETCH_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    pid: int
    agent_version: str
    fetch: bool
    def __init__(self, hostname: _Optional[str] = ..., pid: _Optional[int] = ..., agent_version: _Optional[str] = ..., fetch: _Optional[bool] = ...) -> None: ...

class AuthenticateResponse(_message.Message):
    __slots__ = ("task_instance_id", "try_number", "heartbeat_interval", "task", "report_takes_xcoms")
    TASK_INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    TRY_NUMBER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    REPORT_TAKES_XCOMS_FIELD_NUMBER: _ClassVar[int]
    task_instance_id: str
    try_number: int
    heartbeat_interval: float
    task: FetchTaskResponse
    report_takes_xcoms: bool
    def __init__(self, task_instance_id: _Optional[str] = ..., try_number: _Optional[int] = ..., heartbeat_interval: _Optional[float] = ..., task: _Optional[_Union[FetchTaskResponse, _Mapping]] = ..., report_takes_xcoms: _Optional[bool] = ...) -> None: ...

class FetchTaskRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FetchTaskResponse(_message.Message):
    __slots__ = ("dag_id", "run_id", "task_id", "map_index", "try_number", "max_tries", "operator", "task_json", "args_json", "kwargs_json", "context_json", "project_dir", "dag_file", "python", "env", "execution_timeout", "next_method", "next_kwargs_json", "first_poke_at", "dag_folder")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DAG_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    MAP_INDEX_FIELD_NUMBER: _ClassVar[int]
    TRY_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MAX_TRIES_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    TASK_JSON_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    KWARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_JSON_FIELD_NUMBER: _ClassVar[int]
    PROJECT_DIR_FIELD_NUMBER: _ClassVar[int]
    DAG_FILE_FIELD_NUMBER: _ClassVar[int]
    PYTHON_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    NEXT_METHOD_FIELD_NUMBER: _ClassVar[int]
    NEXT_KWARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    FIRST_POKE_AT_FIELD_NUMBER: _ClassVar[int]
    DAG_FOLDER_FIELD_NUMBER: _ClassVar[int]
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int
    operator: str
    task_json: str
    args_json: str
    kwargs_json: str
    context_json: str
    project_dir: str
    dag_file: str
    python: str
    env: _containers.ScalarMap[str, str]
    execution_timeout: float
    next_method: str
    next_kwargs_json: str
    first_poke_at: float
    dag_folder: str
    def __init__(self, dag_id: _Optional[str] = ..., run_id: _Optional[str] = ..., task_id: _Optional[str] = ..., map_index: _Optional[int] = ..., try_number: _Optional[int] = ..., max_tries: _Optional[int] = ..., operator: _Optional[str] = ..., task_json: _Optional[str] = ..., args_json: _Optional[str] = ..., kwargs_json: _Optional[str] = ..., context_json: _Optional[str] = ..., project_dir: _Optional[str] = ..., dag_file: _Optional[str] = ..., python: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., execution_timeout: _Optional[float] = ..., next_method: _Optional[str] = ..., next_kwargs_json: _Optional[str] = ..., first_poke_at: _Optional[float] = ..., dag_folder: _Optional[str] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("stream", "line", "timestamp")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    stream: str
    line: str
    timestamp: float
    def __init__(self, stream: _Optional[str] = ..., line: _Optional[str] = ..., timestamp: _Optional[float] = ...) -> None: ...

class LogBatch(_message.Message):
    __slots__ = ("lines",)
    LINES_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[LogLine]
    def __init__(self, lines: _Optional[_Iterable[_Union[LogLine, _Mapping]]] = ...) -> None: ...

class StreamLogsResponse(_message.Message):
    __slots__ = ("lines_stored",)
    LINES_STORED_FIELD_NUMBER: _ClassVar[int]
    lines_stored: int
    def __init__(self, lines_stored: _Optional[int] = ...) -> None: ...

class PushXComRequest(_message.Message):
    __slots__ = ("key", "value_json")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    key: str
    value_json: str
    def __init__(self, key: _Optional[str] = ..., value_json: _Optional[str] = ...) -> None: ...

class PushXComResponse(_message.Message):
    __slots__ = ("size_bytes",)
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    size_bytes: int
    def __init__(self, size_bytes: _Optional[int] = ...) -> None: ...

class PullXComRequest(_message.Message):
    __slots__ = ("task_ids", "key", "map_indexes", "has_map_indexes")
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MAP_INDEXES_FIELD_NUMBER: _ClassVar[int]
    HAS_MAP_INDEXES_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    key: str
    map_indexes: _containers.RepeatedScalarFieldContainer[int]
    has_map_indexes: bool
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ..., key: _Optional[str] = ..., map_indexes: _Optional[_Iterable[int]] = ..., has_map_indexes: _Optional[bool] = ...) -> None: ...

class PullXComResponse(_message.Message):
    __slots__ = ("values_json",)
    VALUES_JSON_FIELD_NUMBER: _ClassVar[int]
    values_json: str
    def __init__(self, values_json: _Optional[str] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("stop", "reason")
    STOP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    stop: bool
    reason: str
    def __init__(self, stop: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class ReportStateRequest(_message.Message):
    __slots__ = ("state", "exit_code", "error_type", "error_message", "traceback", "follow_task_ids_json", "short_circuit_continue", "no_retry", "reschedule_date", "trigger_json", "next_method", "next_kwargs_json", "defer_timeout", "retry_delay", "retry_reason", "outlet_events_json", "xcoms")
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_TASK_IDS_JSON_FIELD_NUMBER: _ClassVar[int]
    SHORT_CIRCUIT_CONTINUE_FIELD_NUMBER: _ClassVar[int]
    NO_RETRY_FIELD_NUMBER: _ClassVar[int]
    RESCHEDULE_DATE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_JSON_FIELD_NUMBER: _ClassVar[int]
    NEXT_METHOD_FIELD_NUMBER: _ClassVar[int]
    NEXT_KWARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    DEFER_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRY_DELAY_FIELD_NUMBER: _ClassVar[int]
    RETRY_REASON_FIELD_NUMBER: _ClassVar[int]
    OUTLET_EVENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    XCOMS_FIELD_NUMBER: _ClassVar[int]
    state: str
    exit_code: int
    error_type: str
    error_message: str
    traceback: str
    follow_task_ids_json: str
    short_circuit_continue: bool
    no_retry: bool
    reschedule_date: float
    trigger_json: str
    next_method: str
    next_kwargs_json: str
    defer_timeout: float
    retry_delay: float
    retry_reason: str
    outlet_events_json: str
    xcoms: _containers.RepeatedCompositeFieldContainer[OutcomeXCom]
    def __init__(self, state: _Optional[str] = ..., exit_code: _Optional[int] = ..., error_type: _Optional[str] = ..., error_message: _Optional[str] = ..., traceback: _Optional[str] = ..., follow_task_ids_json: _Optional[str] = ..., short_circuit_continue: _Optional[bool] = ..., no_retry: _Optional[bool] = ..., reschedule_date: _Optional[float] = ..., trigger_json: _Optional[str] = ..., next_method: _Optional[str] = ..., next_kwargs_json: _Optional[str] = ..., defer_timeout: _Optional[float] = ..., retry_delay: _Optional[float] = ..., retry_reason: _Optional[str] = ..., outlet_events_json: _Optional[str] = ..., xcoms: _Optional[_Iterable[_Union[OutcomeXCom, _Mapping]]] = ...) -> None: ...

class OutcomeXCom(_message.Message):
    __slots__ = ("key", "value_json")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    key: str
    value_json: str
    def __init__(self, key: _Optional[str] = ..., value_json: _Optional[str] = ...) -> None: ...

class ReportStateResponse(_message.Message):
    __slots__ = ("recorded_state",)
    RECORDED_STATE_FIELD_NUMBER: _ClassVar[int]
    recorded_state: str
    def __init__(self, recorded_state: _Optional[str] = ...) -> None: ...

class TaskStateRequest(_message.Message):
    __slots__ = ("action", "key", "value_json", "retention_seconds", "never_expire")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NEVER_EXPIRE_FIELD_NUMBER: _ClassVar[int]
    action: str
    key: str
    value_json: str
    retention_seconds: float
    never_expire: bool
    def __init__(self, action: _Optional[str] = ..., key: _Optional[str] = ..., value_json: _Optional[str] = ..., retention_seconds: _Optional[float] = ..., never_expire: _Optional[bool] = ...) -> None: ...

class TaskStateResponse(_message.Message):
    __slots__ = ("found", "value_json")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    found: bool
    value_json: str
    def __init__(self, found: _Optional[bool] = ..., value_json: _Optional[str] = ...) -> None: ...

class AssetEventsRequest(_message.Message):
    __slots__ = ("ref_json", "limit", "ascending", "after", "before")
    REF_JSON_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ASCENDING_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    ref_json: str
    limit: int
    ascending: bool
    after: str
    before: str
    def __init__(self, ref_json: _Optional[str] = ..., limit: _Optional[int] = ..., ascending: _Optional[bool] = ..., after: _Optional[str] = ..., before: _Optional[str] = ...) -> None: ...

class AssetEventsResponse(_message.Message):
    __slots__ = ("events_json",)
    EVENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    events_json: str
    def __init__(self, events_json: _Optional[str] = ...) -> None: ...

class AssetStateRequest(_message.Message):
    __slots__ = ("ref_json", "action", "key", "value_json")
    REF_JSON_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    ref_json: str
    action: str
    key: str
    value_json: str
    def __init__(self, ref_json: _Optional[str] = ..., action: _Optional[str] = ..., key: _Optional[str] = ..., value_json: _Optional[str] = ...) -> None: ...

class AssetStateResponse(_message.Message):
    __slots__ = ("found", "value_json")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    found: bool
    value_json: str
    def __init__(self, found: _Optional[bool] = ..., value_json: _Optional[str] = ...) -> None: ...

class DagRunsRequest(_message.Message):
    __slots__ = ("op", "args_json")
    OP_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    op: str
    args_json: str
    def __init__(self, op: _Optional[str] = ..., args_json: _Optional[str] = ...) -> None: ...

class DagRunsResponse(_message.Message):
    __slots__ = ("answer_json",)
    ANSWER_JSON_FIELD_NUMBER: _ClassVar[int]
    answer_json: str
    def __init__(self, answer_json: _Optional[str] = ...) -> None: ...
