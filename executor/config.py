"""Executor settings, with the defaults a single machine wants.

Each field of ``ExecutorConfig`` carries its documentation in its metadata
(``field_doc``): the service's ``[action_executor]`` options take their
defaults and help from here, so a default or its meaning is written once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from executor.sandbox.model import SandboxPolicy
from protocol.framing import DEFAULT_MAX_FRAME_SIZE


def default_state_dir() -> str:
    """``$ACTION_EXECUTOR_STATE_DIR``, else ``$XDG_STATE_HOME/mistral-action-host``."""
    explicit = os.environ.get("ACTION_EXECUTOR_STATE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "mistral-action-host")


def default_limits() -> dict[str, int]:
    """Per-process resource limits (setrlimit). Memory and processes are the
    sandbox's, per action and for all its processes (a cgroup,
    ``SandboxPolicy.memory_limit`` and ``max_processes``): an address-space
    limit counts one process's reservations, not an action's memory, and
    would stop V8 (std.javascript), which reserves some 216 GiB it never uses."""
    return {
        "open_files": 1024,
        "file_size": 1024**3,
    }


#: The values of ``ExecutorConfig.launcher``, and what each means.
LAUNCHERS = {
    "fork": "a warm template per environment forks each host (fast)",
    "spawn": "a fresh interpreter per host",
}
#: The values of ``ExecutorConfig.preload_actions``, and what each means.
PRELOAD_ACTIONS = {
    "used": "each action after its first successful run (lean templates); until "
    "then a run imports its action itself, within its timeout",
    "all": "every action when the template starts",
    "none": "none: each host imports what it runs",
}
PRELOAD_MODES = tuple(PRELOAD_ACTIONS)


def field_doc(cls: type, name: str) -> str:
    """The documentation of dataclass ``cls``'s field ``name`` (its ``doc`` metadata)."""
    (found,) = [f for f in fields(cls) if f.name == name]
    doc: str = found.metadata["doc"]
    return doc


@dataclass
class ExecutorConfig:
    state_dir: str = field(
        default_factory=default_state_dir,
        metadata={
            "doc": "Where environments, indexes, caches, work directories and the "
            "service journal live (default: $ACTION_EXECUTOR_STATE_DIR, else "
            "$XDG_STATE_HOME/mistral-action-host, else "
            "~/.local/state/mistral-action-host)."
        },
    )
    launcher: str = field(default="fork", metadata={"doc": "How action hosts are started."})
    spare_children: int = field(
        default=2,
        metadata={
            "doc": "fork: hosts kept forked and handshaken ahead of demand, per environment."
        },
    )
    preload_actions: str = field(
        default="used",
        metadata={
            "doc": "fork: which action modules a template imports, so that the hosts "
            "forked from it start with them loaded."
        },
    )
    housekeeping_delay: float = field(
        default=0.05,
        metadata={
            "doc": "fork: seconds forks of spares and teardown of used hosts wait, at "
            "most, for a quiet moment with no run in flight."
        },
    )
    close_timeout: float = field(
        default=10.0,
        metadata={"doc": "Seconds the executor waits for runs in flight when it closes."},
    )
    template_fork_timeout: float = field(
        default=30.0,
        metadata={"doc": "fork: seconds a template may take to fork before it is replaced."},
    )
    template_start_timeout: float = field(
        default=120.0,
        metadata={
            "doc": "fork: seconds a new template may take to import the runtime and "
            "the environment's actions and answer its handshake."
        },
    )
    prestart_templates: bool = field(
        default=True,
        metadata={
            "doc": "fork: start every environment's template (and its spares) when the "
            "executor starts, in the background, instead of at its first action."
        },
    )
    max_concurrency: int = field(
        default=16,
        metadata={
            "doc": "Actions this executor runs at once; more wait in a queue of "
            "queue_size. This, not oslo.messaging's thread pool, bounds the work "
            "of one executor."
        },
    )
    queue_size: int = field(
        default=1024,
        metadata={
            "doc": "Accepted actions waiting for a free slot; when full, a new action "
            "is refused and reported to the engine as an error."
        },
    )
    max_frame_size: int = field(
        default=DEFAULT_MAX_FRAME_SIZE,
        metadata={"doc": "Largest protocol frame between executor and host, in bytes."},
    )
    cancel_grace: float = field(
        default=0.5,
        metadata={"doc": "Seconds a timed-out action gets to finish after the soft cancel."},
    )
    default_timeout: float | None = field(
        default=3600.0,
        metadata={
            "doc": "Seconds an action may run when its task sets no timeout, so that "
            "no action is unbounded by accident (None, in ExecutorConfig only: no "
            "limit). A task timeout stops the action, unlike in Mistral."
        },
    )
    max_result_size: int = field(
        default=1024 * 1024,
        metadata={
            "doc": "Largest result (data or error, encoded) an action may return, in "
            "bytes (Mistral's own field limit is 1 MiB). Larger results are an "
            "error, never cut; a longer error text (an exception's message) is cut "
            "to fit, and says so."
        },
    )
    max_log_line_bytes: int = field(
        default=8 * 1024,
        metadata={
            "doc": "Longest line of an action's output (stdout, stderr or a log "
            "record) kept, in bytes; the rest of the line is dropped and the line "
            "says how much."
        },
    )
    max_log_bytes: int = field(
        default=256 * 1024,
        metadata={
            "doc": "Bytes of output one run keeps for its result's logs; later lines "
            "are only counted, so one action cannot fill the executor's memory."
        },
    )
    log_rate: float = field(
        default=100.0,
        metadata={
            "doc": "Lines a second of one run's output copied to the executor's own "
            "log (logger action.<name>), in bursts of up to log_burst lines; the "
            "rest are counted and reported in one record when the run ends."
        },
    )
    log_burst: int = field(
        default=200,
        metadata={
            "doc": "Lines of one run's output copied to the executor's log at once "
            "before log_rate applies."
        },
    )
    limits: dict[str, int] = field(
        default_factory=default_limits,
        metadata={
            "doc": "Resource limits applied in every action host before action code "
            "runs, in bytes or seconds, by name: address_space, cpu_seconds, "
            "open_files, file_size, processes."
        },
    )
    max_nested_runs: int = field(
        default=64,
        metadata={
            "doc": "Nested runs (actions calling actions) allowed at once in the whole "
            "executor; more are refused at once (no waiting, so no deadlock)."
        },
    )
    max_nesting_depth: int = field(
        default=5,
        metadata={"doc": "How deep actions may call actions."},
    )
    extra_paths: tuple[str, ...] = field(
        default=(),
        metadata={"doc": "Extra import paths for the default environment's hosts."},
    )
    host_config_files: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "Whole oslo.config files every action host also loads into "
            "cfg.CONF before it imports actions, after the action_config_groups. "
            "Every action can read what they hold: list only files written for "
            "actions, never the service's own configuration."
        },
    )
    action_config: str = field(
        default="",
        metadata={
            "doc": "The text of an oslo.config file for actions, built by the service "
            "from the groups of its own configuration meant for them ([action_executor] "
            "action_config_groups) so that its credentials never reach a host. The "
            "service writes it under <state_dir>/service/ and puts that file first in "
            "host_config_files; Executor itself does not read this field."
        },
    )
    hidden_paths: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "Paths hidden from every action host (behind an empty read-only "
            "mount), besides the state directory, homes, /run and /tmp: the "
            "service's own configuration (its passwords). The service adds the "
            "config files and directories it was started with (--config-file, "
            "--config-dir); list here the rest of it, e.g. /etc/mistral. The "
            "sandbox hides directories only so far: keep a file unreadable for "
            "other users instead."
        },
    )
    sandbox: SandboxPolicy = field(
        default_factory=SandboxPolicy,
        metadata={
            "doc": "The sandbox every host applies before action code runs (docs/security.md)."
        },
    )
    sandbox_by_env: dict[str, SandboxPolicy] = field(
        default_factory=dict,
        metadata={
            "doc": "Per-environment sandbox policies (environment name -> policy), "
            "e.g. a none network for an environment that needs no network at all."
        },
    )
    strict_serialization: bool = field(
        default=False,
        metadata={
            "doc": "Refuse action results that are not plain data (sets, Decimal, "
            "objects...) instead of converting them to primitives the way Mistral's "
            "executor does. An environment may override it "
            "('action-executor env set NAME strict_serialization=true')."
        },
    )
    preimport_modules: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "Default environment: modules its hosts import before the actions "
            "(other environments: 'action-executor env set NAME preimport=...')."
        },
    )
    host_path: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "Default environment: directories on its hosts' PATH after the "
            "interpreter's own bin directory (other environments: "
            "'action-executor env set NAME path=...')."
        },
    )
    host_environ: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "doc": "Default environment: environment variables of its hosts (PATH, "
            "HOME and TMPDIR are the sandbox's)."
        },
    )

    def __post_init__(self) -> None:
        if self.preload_actions not in PRELOAD_MODES:
            raise ValueError(
                f"preload_actions is {self.preload_actions!r}; use one of {PRELOAD_MODES}"
            )

    def sandbox_for(self, env_name: str) -> SandboxPolicy:
        """The sandbox policy of environment ``env_name``."""
        return self.sandbox_by_env.get(env_name, self.sandbox)
