"""The params and results of every protocol method, as pydantic models.

These models are the single source of truth for the wire shapes: the JSON
Schema in ``protocol/schema.json`` is generated from them, and a test fails
when the two drift apart or the shapes change without a new
``PROTOCOL_VERSION``. Names: ``<Verb><Noun>Params`` for params,
``<Noun>Result`` for results.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Base of all wire models: unknown fields are refused, not silently kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- handshake ---------------------------------------------------------------


class InitializeParams(Model):
    """executor -> host, first call on every channel."""

    protocol_version: str
    runtime_version: str
    capabilities: list[str] = Field(default_factory=list)
    executor_pid: int
    max_frame_size: int


class InitializeResult(Model):
    protocol_version: str
    runtime_version: str
    capabilities: list[str] = Field(default_factory=list)
    pid: int
    interpreter: str
    python_version: str


# -- contexts ----------------------------------------------------------------


class SecurityContextModel(Model):
    """The 14 fields of mistral-lib's SecurityContext and ``user_id``, all optional."""

    auth_cacert: str | None = None
    auth_token: str | None = Field(default=None, repr=False)
    auth_uri: str | None = None
    expires_at: str | None = None
    insecure: bool | None = None
    is_target: bool | None = None
    is_trust_scoped: bool | None = None
    project_id: str | None = None
    project_name: str | None = None
    redelivered: bool | None = None
    region_name: str | None = None
    service_catalog: Any = Field(default=None, repr=False)
    trust_id: str | None = Field(default=None, repr=False)
    user_name: str | None = None
    user_id: str | None = None


class ExecutionContextModel(Model):
    """mistral-lib's ExecutionContext fields, plus the chain of parent actions."""

    workflow_execution_id: str | None = None
    task_execution_id: str | None = None
    action_execution_id: str | None = None
    workflow_name: str | None = None
    callback_url: str | None = None
    with_items_index: int = 0
    task_rerun_no: int = 0
    task_rerun_id: str | None = None
    workflow_propagated_headers: dict[str, Any] | None = None
    parent_actions: list[str] = Field(
        default_factory=list,
        description="names of the actions that called this one, outermost first",
    )


class ActionContextModel(Model):
    # default_factory, not an instance: pydantic deep-copies instance defaults
    # on every construction (measured: 0.14 ms per action).
    security: SecurityContextModel = Field(default_factory=SecurityContextModel)
    execution: ExecutionContextModel = Field(default_factory=ExecutionContextModel)


# -- running actions ---------------------------------------------------------


class RunActionParams(Model):
    """Run one action. Sent executor -> host, and host -> executor for reuse."""

    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    context: ActionContextModel = Field(default_factory=ActionContextModel)
    dry_run: bool = False
    timeout: float | None = Field(
        default=None, description="seconds left before the caller gives up"
    )
    max_result_size: int | None = Field(
        default=None, description="largest encoded result (bytes) the caller accepts"
    )
    instance: ActionInstanceModel | None = Field(
        default=None,
        description="rebuild the action from these attributes instead of calling "
        "__init__ with params (an action object serialized by Mistral's engine)",
    )


class ActionInstanceModel(Model):
    """An action object as mistral-lib serializes it: rebuilt without ``__init__``."""

    class_attrs: dict[str, Any] = Field(
        default_factory=dict, description="class attributes: the host builds a subclass"
    )
    data: dict[str, Any] = Field(
        default_factory=dict, description="instance attributes (vars() of the object)"
    )


class ActionOutcome(Model):
    """What one action run ended with: mistral-lib's Result plus diagnostics."""

    data: Any = None
    error: Any = None
    cancel: bool = False
    failure: Literal["raised", "load_error", "result_too_large", "not_serializable"] | None = Field(
        default=None, description="why the host could not report the action's own result"
    )
    exception: str | None = Field(
        default=None, description="qualified name of the exception that ended the run"
    )
    is_sync: bool = True
    host_pid: int | None = None
    timings: dict[str, float] = Field(default_factory=dict, description="phase name -> seconds")


class CancelParams(Model):
    """executor -> host notification: stop the running action (soft cancel)."""

    reason: str = "cancelled"


class LogParams(Model):
    """host -> executor notification: one log record of the action."""

    level: int
    logger: str
    message: str
    created: float


# -- discovery ---------------------------------------------------------------


class ParamSpec(Model):
    name: str
    required: bool
    default: Any = None
    kind: Literal["keyword", "var_keyword", "var_positional"] = "keyword"


class ActionInfo(Model):
    """What ``action-host --inspect`` knows about one entry point."""

    name: str
    class_path: str
    module: str
    distribution: str | None = None
    version: str | None = None
    params: list[ParamSpec] = Field(default_factory=list)
    accepts_any_params: bool = False
    description: str = ""
    is_sync: bool | None = None
    error: str | None = Field(default=None, description="why the entry point could not be loaded")
    source: Literal["entry_point", "generator"] = Field(
        default="entry_point",
        description="a 'mistral.actions' entry point, or made by a 'mistral.generators' generator",
    )
    target: str | None = Field(
        default=None,
        description="the entry point's 'module:attr' (generated: the generator's, and its class)",
    )
    class_attrs: dict[str, Any] = Field(
        default_factory=dict,
        description="generated actions: the class attributes the host subclasses class_path "
        "with (how Mistral's engine names such an action: base class + cls_attrs)",
    )
    shadowed: list[str] = Field(
        default_factory=list,
        description="other entries of this name in the same environment, which lost it",
    )

    def signature(self) -> str:
        """The parameters as a user writes them: ``output, delay=0, **kwargs``."""
        import json

        parts = [p.name if p.required else f"{p.name}={json.dumps(p.default)}" for p in self.params]
        if self.accepts_any_params:
            parts.append("**kwargs")
        return ", ".join(parts)


class ListActionsParams(Model):
    pass


class HostInfo(Model):
    interpreter: str
    python_version: str
    prefix: str
    runtime_version: str
    protocol_version: str


class ListActionsResult(Model):
    host: HostInfo
    actions: list[ActionInfo]
    notices: list[str] = Field(
        default_factory=list,
        description="what the operator must know: near-miss entry point groups, "
        "unsupported providers, no working action",
    )


# -- the template (zygote) control channel -----------------------------------


class SandboxSpec(Model):
    """How a template's (or spawned host's) children confine themselves before
    any action code runs: the executor's policy, fixed for the template's life.

    The launcher (``protocol.launch_plan``) has already put the template into
    its cgroup, user namespaces and file system view; this is the per-child
    part, applied by each forked child (the executor moves each child into a
    cgroup of its own). See docs/security.md.
    """

    network: Literal["none", "egress", "host"] = Field(
        default="egress",
        description="none: a private loopback only; egress: outbound, never to this "
        "host's own addresses or link-local ones, no server sockets; host: the host's "
        "network as it is",
    )
    private_filesystem: bool = Field(
        default=True,
        description="own mount namespace with a private tmpfs /tmp (the working "
        "directory), /dev/shm and (devpts) terminals",
    )
    tmpfs_size: int = Field(default=256 * 1024**2, description="bytes of the private /tmp")
    pid_namespace: bool = Field(
        default=True, description="own pid namespace and /proc; the host is its pid 1"
    )
    max_processes: int | None = Field(
        default=None, description="RLIMIT_NPROC of the action's own uid"
    )
    seccomp: bool = True
    landlock: bool = True
    devpts: bool = Field(default=True, description="a private /dev/pts instance")
    isolated: bool = Field(
        default=True,
        description="the template lives in a user namespace of its own: children "
        "make their namespaces there and take an identity of its range",
    )
    uids: int = Field(
        default=1,
        description="ids mapped in the template's user namespace: 0 is the template, "
        "each live child has one of 1..uids-1 (1: children keep 0, without any "
        "capability)",
    )
    tmp_exposed: list[str] = Field(
        default_factory=list,
        description="the environment's directories under /tmp, shown again in each "
        "child's private /tmp",
    )


class ForkChildParams(Model):
    """executor -> template: fork one child on the channels passed with SCM_RIGHTS.

    Three descriptors travel with the request, in this order: the child's end
    of its protocol channel, and the write ends of its stdout and stderr pipes.
    """

    workdir: str = Field(description="private working directory of the child")
    environ: dict[str, str] = Field(description="the child's whole environment")
    rehearse: bool = Field(
        default=False,
        description="exercise the request path before serving (for spares, which wait)",
    )
    limits: dict[str, int] = Field(
        default_factory=dict,
        description="resource limits (address_space, cpu_seconds, open_files, ...)",
    )
    sandbox: SandboxSpec | None = Field(
        default=None,
        description="the template's sandbox (it must be the one it started with); None: none",
    )
    uid: int | None = Field(
        default=None,
        description="the child's uid in the template's user namespace (1..uids-1, one "
        "no live child has); None when the template has no ids for its children",
    )


class ForkChildResult(Model):
    pid: int


class ChildExitedParams(Model):
    """template -> executor notification: a forked child was reaped."""

    pid: int
    status: int


class PreloadParams(Model):
    """executor -> template notification: import these actions' code now.

    Sent after an action's first successful run from a template's child, so
    the children forked later share its imported modules instead of each
    importing them again (``preload_actions = used``).
    """

    actions: list[str]


class TemplateReadyParams(Model):
    """template -> executor notification: imports done, ready to fork."""

    pid: int
    preloaded_actions: int
    seconds: float


RunActionParams.model_rebuild()
