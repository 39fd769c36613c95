"""oslo.config options of the service: Mistral's own names plus ours.

A Mistral operator's ``mistral.conf`` works as it is: ``[DEFAULT]
transport_url/control_exchange/rpc_response_timeout``, ``[executor]``,
``[engine]``, ``[action_heartbeat]`` and every ``[oslo_messaging_rabbit]``
option mean what they mean to Mistral. What only this service has lives in
``[action_executor]`` (what ``ExecutorConfig`` holds) and
``[action_executor_service]`` (journal, shutdown, delivery). An option that
sets an ``ExecutorConfig`` field takes the field's default and documentation
(``config.field_doc``), and ``[sandbox]`` the defaults of ``SandboxPolicy``,
so that no default is written twice.

Action hosts never get the service's files: only the groups of
``[action_executor] action_config_groups``, copied out of them without the
options the service registers as secret (``action_config``), and the files
and directories the service read are hidden from them (``hidden_paths``).

The options are registered on the global ``cfg.CONF``: oslo.messaging reads
groups of its own (``oslo_messaging_tracing``) only from there, and an RPC
server built on a private ``ConfigOpts`` drops every message after acking it.
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points
from typing import Any

from oslo_config import cfg, types

from executor.config import LAUNCHERS, PRELOAD_ACTIONS, ExecutorConfig, field_doc
from executor.sandbox.model import MECHANISMS, SandboxPolicy

PROJECT = "mistral-action-host"

executor_opts = [
    cfg.HostAddressOpt(
        "host",
        default="0.0.0.0",
        help="Name of this executor (Mistral's [executor] host). Tasks with "
        "'target: <name>' are sent to the executors with this name, through "
        "their own queue; every executor also takes work from the shared topic.",
    ),
    cfg.StrOpt(
        "topic",
        default="mistral_executor",
        help="The message topic the executor listens on (Mistral's default).",
    ),
]

engine_opts = [
    cfg.StrOpt(
        "topic",
        default="mistral_engine",
        help="The message topic of Mistral's engine: results (on_action_complete) "
        "and heartbeats (report_running_actions) go there.",
    ),
]

action_heartbeat_opts = [
    cfg.IntOpt(
        "max_missed_heartbeats",
        min=0,
        default=15,
        help="The engine fails a running action after this many missed "
        "heartbeats. 0 disables heartbeats (as in Mistral): the executor then "
        "sends none.",
    ),
    cfg.IntOpt(
        "check_interval",
        min=0,
        default=20,
        help="Seconds between two heartbeats (report_running_actions) for the "
        "actions this executor holds. 0 disables heartbeats.",
    ),
    cfg.IntOpt(
        "first_heartbeat_timeout",
        min=0,
        default=3600,
        help="Read by Mistral's engine only (grace period before the first "
        "heartbeat); accepted here so that mistral.conf can be shared.",
    ),
]


#: The groups of the service's configuration hosts get by default: std.http's.
DEFAULT_ACTION_CONFIG_GROUPS = ("action_std_http",)
#: Groups that hold the service's own settings and credentials: never for hosts.
REFUSED_ACTION_CONFIG_GROUPS = (
    "DEFAULT",
    "database",
    "keystone_authtoken",
    "action_executor",
    "action_executor_service",
    "sandbox",
    "executor",
    "engine",
)


#: The defaults of the ``[action_executor]`` options that set an ``ExecutorConfig`` field.
_CONFIG = ExecutorConfig()


def _field(name: str, also: str = "") -> dict[str, Any]:
    """``name``, ``default`` and ``help`` of the option that sets ``ExecutorConfig``'s
    field ``name``: the field's default, as oslo.config writes it, and its
    documentation, followed by what only the option needs (``also``)."""
    default = getattr(_CONFIG, name)
    if isinstance(default, tuple):
        default = list(default)
    elif isinstance(default, dict):
        default = {k: str(v) for k, v in default.items()}
    doc = field_doc(ExecutorConfig, name)
    return {"name": name, "default": default, "help": f"{doc} {also}".strip()}


action_executor_opts = [
    # unset: found when the service starts ($ACTION_EXECUTOR_STATE_DIR...)
    cfg.StrOpt("state_dir", help=field_doc(ExecutorConfig, "state_dir")),
    cfg.StrOpt(choices=list(LAUNCHERS.items()), **_field("launcher")),
    cfg.IntOpt(min=1, **_field("max_concurrency")),
    cfg.IntOpt(min=0, **_field("queue_size")),
    cfg.FloatOpt(min=0, **_field("default_timeout")),
    cfg.DictOpt(**_field("limits", also="Write them as name:value pairs.")),
    cfg.IntOpt(min=0, **_field("spare_children")),
    cfg.StrOpt(choices=list(PRELOAD_ACTIONS.items()), **_field("preload_actions")),
    cfg.FloatOpt(min=0, **_field("housekeeping_delay")),
    cfg.FloatOpt(min=0, **_field("close_timeout")),
    cfg.FloatOpt(min=0, **_field("template_fork_timeout")),
    cfg.FloatOpt(min=0, **_field("template_start_timeout")),
    cfg.BoolOpt(**_field("prestart_templates")),
    cfg.IntOpt(min=1024, **_field("max_frame_size")),
    cfg.FloatOpt(min=0, **_field("cancel_grace")),
    cfg.IntOpt(min=1, **_field("max_result_size")),
    cfg.IntOpt(min=80, **_field("max_log_line_bytes")),
    cfg.IntOpt(min=0, **_field("max_log_bytes")),
    cfg.FloatOpt(min=0, **_field("log_rate")),
    cfg.IntOpt(min=0, **_field("log_burst")),
    cfg.IntOpt(min=0, **_field("max_nested_runs")),
    cfg.IntOpt(min=0, **_field("max_nesting_depth")),
    cfg.ListOpt(**_field("extra_paths")),
    cfg.ListOpt(
        "action_config_groups",
        default=list(DEFAULT_ACTION_CONFIG_GROUPS),
        help="Groups of the service's own configuration files that every action host "
        "loads into cfg.CONF before it imports actions (how Mistral's plugins read "
        "their options, e.g. [action_std_http]). Hosts get these groups only, never "
        "the service's credentials: options the service registers as secret are "
        "dropped, and DEFAULT, database, keystone_authtoken, oslo_messaging*, "
        "action_executor, action_executor_service, sandbox, executor and engine are "
        "refused.",
    ),
    cfg.ListOpt(**_field("host_config_files")),
    cfg.ListOpt(**_field("hidden_paths")),
    cfg.BoolOpt(**_field("strict_serialization")),
    cfg.ListOpt(**_field("preimport_modules")),
    cfg.ListOpt(**_field("host_path")),
    cfg.DictOpt(**_field("host_environ", also="Write them as NAME:VALUE pairs.")),
    # ExecutorConfig.sandbox is built from [sandbox] and this switch
    cfg.BoolOpt(
        "sandbox",
        default=_CONFIG.sandbox.enabled,
        help="Run every action in the sandbox ([sandbox] holds its settings; "
        "'action-executor sandbox check' shows what this machine allows). False "
        "runs actions as the executor's own user, seeing what it sees.",
    ),
    cfg.DictOpt(
        **_field(
            "sandbox_by_env",
            also="Write them as ENV:POLICY pairs: POLICY is a network policy (none, egress, host) "
            "that replaces [sandbox] network for that environment, or 'off' for no "
            "sandbox at all. Example: offline:none,legacy:host",
        )
    ),
]

#: ``SandboxPolicy`` fields, one option each (``enabled`` is ``[action_executor]
#: sandbox``; ``uid_range`` is two options); the defaults are the policy's own.
_POLICY = SandboxPolicy()

sandbox_opts = [
    cfg.StrOpt(
        "network",
        default=_POLICY.network,
        choices=[
            ("none", "a private loopback only: no network at all"),
            (
                "egress",
                "outbound connections, never to this host's own addresses, loopback or "
                "link-local (the cloud's metadata service); no server sockets",
            ),
            ("host", "the host's network as it is"),
        ],
        help="Network policy of every action (per environment: [action_executor] "
        "sandbox_by_env). Mistral's network actions (std.http, std.ssh...) need egress.",
    ),
    cfg.ListOpt(
        "egress_deny",
        default=list(_POLICY.egress_deny),
        help="egress only: networks (CIDR, e.g. 10.0.0.0/8) actions may not reach, on "
        "top of this host's addresses, loopback and link-local.",
    ),
    cfg.ListOpt(
        "egress_allow",
        default=list(_POLICY.egress_allow),
        help="egress only: when set, the only networks (CIDR, e.g. 192.0.2.0/24) "
        "actions may reach; this host, loopback and link-local stay refused.",
    ),
    cfg.BoolOpt(
        "private_filesystem",
        default=_POLICY.private_filesystem,
        help="Own mount namespace: the system and the environment read-only, a "
        "private size-limited /tmp holding the working directory; the state dir, "
        "homes, /run and [action_executor] hidden_paths hidden.",
    ),
    cfg.BoolOpt(
        "pid_namespace",
        default=_POLICY.pid_namespace,
        help="Own pid namespace and /proc: an action sees no other process and "
        "everything it starts dies with it.",
    ),
    cfg.IntOpt(
        "tmpfs_size",
        default=_POLICY.tmpfs_size,
        min=1,
        help="Bytes of an action's private /tmp (its working directory included): its disk.",
    ),
    cfg.IntOpt(
        "memory_limit",
        default=_POLICY.memory_limit or 0,
        min=0,
        help="Bytes of memory one action may use: all its processes, its /tmp and "
        "memfd pages (memory.max of its own cgroup). 0: no limit.",
    ),
    cfg.IntOpt(
        "max_processes",
        default=_POLICY.max_processes or 0,
        min=0,
        help="Processes and threads one action may have at once: RLIMIT_NPROC of its "
        "own uid and, with the other cgroup limits (memory_limit, cpu_weight, "
        "cpu_max), pids.max of its own cgroup. 0: no limit.",
    ),
    cfg.IntOpt(
        "cpu_weight",
        default=_POLICY.cpu_weight or 0,
        min=0,
        max=10000,
        help="An action's share of the CPU against the other actions (cpu.weight of "
        "its own cgroup, 1..10000; 100 is the kernel's default). 0: not set.",
    ),
    cfg.FloatOpt(
        "cpu_max",
        default=_POLICY.cpu_max or 0.0,
        min=0,
        help="CPUs one action may use at most (cpu.max of its own cgroup), e.g. 1.5. 0: no cap.",
    ),
    cfg.BoolOpt(
        "per_action_uid",
        default=_POLICY.per_action_uid,
        help="Each action runs as a uid and gid of its own, from this executor's "
        "block of ids (needs CAP_SETUID and CAP_SETGID, or subordinate ids). False: "
        "every action of a template runs as one id.",
    ),
    cfg.IntOpt(
        "uid_range_first",
        default=_POLICY.uid_range[0],
        min=1,
        help="Where the blocks of ids actions run as start. Each executor on a "
        "machine leases a block of uid_range_count ids of its own, machine-wide (a "
        "lock under /run/lock/mistral-action-host), from here on; each template "
        "takes a slice of uids_per_template ids of its block.",
    ),
    cfg.IntOpt(
        "uid_range_count",
        default=_POLICY.uid_range[1],
        min=2,
        help="How many ids a block holds: the ids one executor's templates and "
        "spawned hosts share out in slices.",
    ),
    cfg.IntOpt(
        "uids_per_template",
        default=_POLICY.uids_per_template,
        min=2,
        help="Ids one template's slice holds: the template itself, then one per "
        "action of it running at once (at most uid_range_count).",
    ),
    cfg.BoolOpt("seccomp", default=_POLICY.seccomp, help="A system call filter in every action."),
    cfg.BoolOpt(
        "landlock",
        default=_POLICY.landlock,
        help="Landlock scopes: an action cannot signal processes or reach "
        "abstract unix sockets outside its sandbox.",
    ),
    cfg.ListOpt(
        "required",
        default=list(_POLICY.required),
        item_type=types.String(choices=MECHANISMS),
        help="Kept for configurations written before every mechanism was required; "
        "it changes nothing: every mechanism a policy asks for is required now, and "
        "the executor does not start without it ('action-executor sandbox check' "
        f"names what is missing and the option that lowers the policy). Known: "
        f"{', '.join(MECHANISMS)}.",
    ),
]

service_opts = [
    cfg.PortOpt(
        "metrics_port",
        default=0,
        help="Serve Prometheus metrics on http://metrics_host:metrics_port/metrics and "
        "a health check on /healthz (200 while the executor takes actions, 503 "
        "while it starts or stops); 0 (the default) serves neither. The metrics: "
        "runs by outcome, their duration, queue depth, running actions, templates "
        "and their restarts, host start failures, sandbox refusals, journal size, "
        "deliveries pending.",
    ),
    cfg.HostAddressOpt(
        "metrics_host",
        default="127.0.0.1",
        help="The address metrics_port listens on (127.0.0.1: this machine only; "
        "0.0.0.0 for a Prometheus elsewhere).",
    ),
    cfg.FloatOpt(
        "shutdown_grace_period",
        default=30.0,
        min=0,
        help="On SIGTERM/SIGINT the executor stops taking actions and lets the "
        "running ones finish for this many seconds; then it kills them and "
        "reports them to the engine as errors. It never waits longer than "
        "this plus shutdown_delivery_timeout.",
    ),
    cfg.FloatOpt(
        "shutdown_delivery_timeout",
        default=15.0,
        min=0,
        help="Seconds spent at shutdown delivering the last results; what "
        "cannot be delivered stays in the journal and is delivered at the "
        "next start.",
    ),
    cfg.StrOpt(
        "journal_file",
        default=None,
        help="The journal of accepted actions (sqlite; default: "
        "<state_dir>/mistral-service/journal-<host>.sqlite). Every run_action is "
        "written here before it runs and removed once its result reached the "
        "engine; at start-up unfinished ones are re-run (safe-rerun, or never "
        "started) or reported to the engine as errors. One executor per file.",
    ),
    cfg.FloatOpt(
        "delivery_retry_interval",
        default=2.0,
        min=0.1,
        help="Seconds between two attempts to deliver a result while the "
        "broker or the engine cannot be reached.",
    ),
    cfg.IntOpt(
        "delivery_workers",
        default=4,
        min=1,
        help="Threads delivering results to the engine.",
    ),
]

#: ``[DEFAULT]`` options that are oslo.messaging's; listed in our sample
#: because Mistral's operators set them in the same file.
_SHARED_DEFAULT_OPTS = ("transport_url", "control_exchange", "rpc_response_timeout")
#: oslo.log options the service documents (all of oslo.log's apply).
_SHARED_LOG_OPTS = ("debug", "log_file", "log_config_append", "use_journal")


def _entry_point_opts(namespace: str) -> list[tuple[str | None, list[cfg.Opt]]]:
    for ep in entry_points(group="oslo.config.opts"):
        if ep.name == namespace:
            with warnings.catch_warnings():  # oslo.messaging.opts imports eventlet: noise
                warnings.simplefilter("ignore")
                result: list[tuple[str | None, list[cfg.Opt]]] = ep.load()()
            return result
    raise RuntimeError(
        f"the oslo.config.opts entry point {namespace!r} is missing; install the "
        "service's dependencies: pip install 'mistral-action-host[executor]'"
    )


def _shared_default_opts() -> list[cfg.Opt]:
    wanted: dict[str, cfg.Opt] = {}
    for group, opts in _entry_point_opts("oslo.messaging"):
        if group in (None, "DEFAULT"):
            wanted.update({o.name: o for o in opts if o.name in _SHARED_DEFAULT_OPTS})
    for group, opts in _entry_point_opts("oslo.log"):
        if group in (None, "DEFAULT"):
            wanted.update({o.dest: o for o in opts if o.dest in _SHARED_LOG_OPTS})
    order = _SHARED_DEFAULT_OPTS + _SHARED_LOG_OPTS
    return [wanted[name] for name in order if name in wanted]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The ``oslo.config.opts`` entry point ``mistral-action-host``."""
    return [
        ("DEFAULT", _shared_default_opts()),
        ("executor", list(executor_opts)),
        ("engine", list(engine_opts)),
        ("action_heartbeat", list(action_heartbeat_opts)),
        ("action_executor", list(action_executor_opts)),
        ("sandbox", list(sandbox_opts)),
        ("action_executor_service", list(service_opts)),
    ]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the service's options, and the oslo.messaging ones it reads first.

    oslo.messaging registers ``rpc_response_timeout`` only when a client is
    built; the same definitions registered earlier are accepted by it.
    """
    conf.register_opts([o for o in _shared_default_opts() if o.dest in _SHARED_DEFAULT_OPTS])
    conf.register_opts(executor_opts, group="executor")
    conf.register_opts(engine_opts, group="engine")
    conf.register_opts(action_heartbeat_opts, group="action_heartbeat")
    conf.register_opts(action_executor_opts, group="action_executor")
    conf.register_opts(sandbox_opts, group="sandbox")
    conf.register_opts(service_opts, group="action_executor_service")
