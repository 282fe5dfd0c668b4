"""The engine's one face: what the API (api/) and the command line (cli/) may use.

The engine drives workflows on an object store. Its sub-packages, each one concept:

    definitions/  the workflow format, the task graph, parameters, the workflow registry
    access/       API tokens, web sessions and the secret store
    indexes/      derived meta entries: counters, lineage, what indexes an attempt
    executors/    where attempts run: the seam, Docker, Slurm and its node side, caps, settings
    webhooks/     hooks, run events as CloudEvents, the durable outbox, the deliverer
    runs/         a run's state, lifecycle, ids, evidence, waiting, resume/reproduce origins
    scheduling/   the scheduler, workers under leases, rendering, the task cache,
                  schedules and data triggers (the ticker)
    provenance/   views, logs, compare, the audit check, explain, exports
    upkeep/       gc, reindex, the sync ref policy, metrics

and at this level the vocabulary they share (model, values, layout, states, clock, errors,
bounds) and the face: `WorkflowService` (service.py) implementing `Service` (protocol.py).
A sub-package imports only those below it (pyproject.toml's import-linter contracts, run by
the tests); api/ and cli/ import only this module. Names are imported on first use, so a
command pays only for what it touches (objstore/lazy.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfobj.objstore.lazy import face

_FACE = {
    ".service": ("WorkflowService",),
    ".protocol": ("Service",),
    ".errors": ("AttemptTokenRefused", "DataRefError", "DefinitionError", "DefinitionTooLarge", "DocumentError",
        "EngineError", "ExportsBusy", "InvalidStoredObject", "NoSigningKey", "NothingToRepeat",
        "ParameterError", "RenderedTooLarge", "ReportRefused", "RunAlreadyTerminal",
        "RunNotEnded", "UploadBudgetSpent", "HookRefused", "UnknownHook",
        "SecretNotFound", "SecretStoreUnusable", "SecretUnavailable", "clip", "excerpt", "one_line"),
    ".bounds": ("MAX_DESCRIPTION_CHARS",),
    ".layout": ("DATA_PREFIX", "REF_PREFIX"),
    ".model": ("Definition", "ParamDefinition", "TaskDefinition"),
    ".values": ("PULL_POLICIES",),
    ".states": ("RUN_TERMINAL", "RunStatus", "TASK_LIVE", "TaskStatus"),
    ".access.secrets": ("SECRET_NAME_PATTERN", "SecretInfo", "SecretStore"),
    ".access.sessions": ("SessionStore",),
    ".access.tokens": ("ROLES", "TokenInfo", "TokenStore", "role_allows"),
    ".definitions.documents": ("load_json", "load_yaml"),
    ".definitions.cwl_compile": ("pack_cwl_file",),
    ".definitions.format": ("NAME_RE", "TASK_NAME_RE", "parse_source"),
    ".definitions.graph": ("TaskGraph",),
    ".definitions.fanout": ("base_task", "instance_key"),
    ".definitions.params": ("parse_text_values",),
       ".executors.attempts": ("AttemptGrant", "AttemptTokens"),
    ".executors.base": ("Executor", "check_executor"),
    ".executors.caps": ("ContainerLimits", "DEFAULT_LIMITS", "parse_limits"),
    ".executors.docker": ("DockerExecutor",),
    ".executors.factory": ("executor_factory", "make_executor"),
    ".executors.secret_values": ("attempt_secret_values",),
    ".executors.node": ("AttemptServer", "execute", "network_filesystem"),
    ".executors.settings": ("DEFAULT_NODE_STORE", "DEFAULT_PULL", "DockerSettings", "EXECUTOR_KINDS",
        "ExecutorSettings", "SlurmSettings"),
    ".indexes.lineage": ("DEFAULT_DEPTH", "MAX_DEPTH"),
    ".provenance.exports": ("Export", "FILE_MODES", "FORMATS", "KeyFile", "SUFFIXES", "check_format"),
    ".provenance.exports.openlineage_feed": ("OpenLineageFeed",),
    ".provenance.exports.signing": ("PublicKey",),
    ".provenance.exports.verify": ("verify_attestation",),
    ".provenance.logs": ("FOLLOW_WAIT_S", "follow_to_end"),
    ".provenance.fanout_view": ("MAX_INSTANCE_PAGE", "InstancePage", "RunOutline", "TaskLine",
        "instance_page", "task_line", "task_outline"),
    ".runs.ids": ("MIN_PREFIX", "PREFIX_RE", "resolve_run_id"),
    ".runs.waiting": ("Progress", "poll_run", "state_changes"),
    ".scheduling.worker": ("RunStepHook", "Worker"),
    ".scheduling.cwl_staging": ("CWL_DEFAULT_IMAGE", "CWL_OUT_DIR", "CWL_OUT_NAME", "CWL_SCRIPT",
        "CWL_STAGE_DIR", "CWL_TMP_DIR", "StagingPlan", "image_of", "job_script", "link_or_copy",
        "resources_of"),
    ".upkeep.gc": ("collect_garbage",),
    ".upkeep.metrics": ("CONTENT_TYPE", "exposition", "gather"),
    ".upkeep.reindex": ("ensure_counters",),
    ".upkeep.sync_policy": ("EngineRefPolicy",),
    ".webhooks.delivery": ("Deliverer", "DeliverySettings"),
    ".webhooks.events": ("EVENT_NAMES", "SIGNATURE_HEADER", "check_signature"),
    ".webhooks.registry": ("HookStore",),
}
__all__, __getattr__, __dir__ = face(__name__, _FACE)

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports
    from .access.secrets import SECRET_NAME_PATTERN, SecretInfo, SecretStore  # noqa: F401
    from .access.sessions import SessionStore  # noqa: F401
    from .access.tokens import ROLES, TokenInfo, TokenStore, role_allows  # noqa: F401
    from .bounds import MAX_DESCRIPTION_CHARS  # noqa: F401
    from .definitions.cwl_compile import pack_cwl_file  # noqa: F401
    from .definitions.documents import load_json, load_yaml  # noqa: F401
    from .definitions.fanout import base_task, instance_key  # noqa: F401
    from .definitions.format import NAME_RE, TASK_NAME_RE, parse_source  # noqa: F401
    from .definitions.graph import TaskGraph  # noqa: F401
    from .definitions.params import parse_text_values  # noqa: F401
    from .errors import (  # noqa: F401
        AttemptTokenRefused,
        DataRefError,
        DefinitionError,
        DefinitionTooLarge,
        DocumentError,
        EngineError,
        ExportsBusy,
        HookRefused,
        InvalidStoredObject,
        NoSigningKey,
        NothingToRepeat,
        ParameterError,
        RenderedTooLarge,
        ReportRefused,
        RunAlreadyTerminal,
        RunNotEnded,
        SecretNotFound,
        SecretStoreUnusable,
        SecretUnavailable,
        UnknownHook,
        UploadBudgetSpent,
        clip,
        excerpt,
        one_line,
    )
    from .executors.attempts import AttemptGrant, AttemptTokens  # noqa: F401
    from .executors.base import Executor, check_executor  # noqa: F401
    from .executors.caps import DEFAULT_LIMITS, ContainerLimits, parse_limits  # noqa: F401
    from .executors.docker import DockerExecutor  # noqa: F401
    from .executors.factory import executor_factory, make_executor  # noqa: F401
    from .executors.node import AttemptServer, execute, network_filesystem  # noqa: F401
    from .executors.secret_values import attempt_secret_values  # noqa: F401
    from .executors.settings import (  # noqa: F401
        DEFAULT_NODE_STORE,
        DEFAULT_PULL,
        EXECUTOR_KINDS,
        DockerSettings,
        ExecutorSettings,
        SlurmSettings,
    )
    from .indexes.lineage import DEFAULT_DEPTH, MAX_DEPTH  # noqa: F401
    from .layout import DATA_PREFIX, REF_PREFIX  # noqa: F401
    from .model import Definition, ParamDefinition, TaskDefinition  # noqa: F401
    from .protocol import Service  # noqa: F401
    from .provenance.exports import FILE_MODES, FORMATS, SUFFIXES, Export, KeyFile, check_format  # noqa: F401
    from .provenance.exports.openlineage_feed import OpenLineageFeed  # noqa: F401
    from .provenance.exports.signing import PublicKey  # noqa: F401
    from .provenance.exports.verify import verify_attestation  # noqa: F401
    from .provenance.fanout_view import (  # noqa: F401
        MAX_INSTANCE_PAGE,
        InstancePage,
        RunOutline,
        TaskLine,
        instance_page,
        task_line,
        task_outline,
    )
    from .provenance.logs import FOLLOW_WAIT_S, follow_to_end  # noqa: F401
    from .runs.ids import MIN_PREFIX, PREFIX_RE, resolve_run_id  # noqa: F401
    from .runs.waiting import Progress, poll_run, state_changes  # noqa: F401
    from .scheduling.cwl_staging import (  # noqa: F401
        CWL_DEFAULT_IMAGE,
        CWL_OUT_DIR,
        CWL_OUT_NAME,
        CWL_SCRIPT,
        CWL_STAGE_DIR,
        CWL_TMP_DIR,
        StagingPlan,
        image_of,
        job_script,
        link_or_copy,
        resources_of,
    )
    from .scheduling.worker import RunStepHook, Worker  # noqa: F401
    from .service import WorkflowService  # noqa: F401
    from .states import RUN_TERMINAL, TASK_LIVE, RunStatus, TaskStatus  # noqa: F401
    from .upkeep.gc import collect_garbage  # noqa: F401
    from .upkeep.metrics import CONTENT_TYPE, exposition, gather  # noqa: F401
    from .upkeep.reindex import ensure_counters  # noqa: F401
    from .upkeep.sync_policy import EngineRefPolicy  # noqa: F401
    from .values import PULL_POLICIES  # noqa: F401
    from .webhooks.delivery import Deliverer, DeliverySettings  # noqa: F401
    from .webhooks.events import EVENT_NAMES, SIGNATURE_HEADER, check_signature  # noqa: F401
    from .webhooks.registry import HookStore  # noqa: F401
