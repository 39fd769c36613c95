"""Executor settings, with the defaults a single machine wants."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

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


PRELOAD_MODES = ("used", "all", "none")


@dataclass
class ExecutorConfig:
    #: Environments, indexes, caches and per-action working directories.
    state_dir: str = field(default_factory=default_state_dir)
    #: "fork" (a warm template per environment) or "spawn" (fresh interpreter).
    launcher: str = "fork"
    #: fork: children kept forked and handshaken ahead of demand, per environment.
    spare_children: int = 2
    #: fork: which action modules a template imports for its children: "used"
    #: (each after its first successful run; until then a run imports its
    #: action itself, within its timeout), "all" (at start) or "none".
    preload_actions: str = "used"
    #: fork: forks of spares and teardown of used children wait for a moment
    #: with no run in flight, at most this many seconds.
    housekeeping_delay: float = 0.05
    #: Seconds ``close()`` waits for runs in flight before tearing everything down.
    close_timeout: float = 10.0
    #: fork: seconds a template may take to answer a fork before it is replaced.
    template_fork_timeout: float = 30.0
    #: fork: seconds a new template may take to import the runtime and the
    #: environment's actions and answer its handshake.
    template_start_timeout: float = 120.0
    #: fork: start every environment's template (and its spares) when the
    #: executor starts, in the background, instead of at its first run.
    prestart_templates: bool = True
    #: Actions running at once; more wait in a queue of ``queue_size``.
    max_concurrency: int = 16
    queue_size: int = 1024
    #: Largest protocol frame either side accepts (bytes).
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    #: Seconds a timed-out action gets to finish after the soft cancel.
    cancel_grace: float = 0.5
    #: Timeout for runs that do not give one, in seconds: no run is unbounded by
    #: accident (a host that writes half a frame and waits would otherwise hang
    #: its run forever). One hour, as Mistral's heartbeat-based limit. None: no limit.
    default_timeout: float | None = 3600.0
    #: Largest result (data or error, encoded) an action may return, in bytes;
    #: Mistral's own field limit is 1 MiB. Larger results are an error, never cut;
    #: a longer error text (an exception's message) is cut to fit, and says so.
    max_result_size: int = 1024 * 1024
    #: Longest line of an action's output (stdout, stderr or a log record) kept,
    #: in bytes; the rest of the line is dropped and the line says how much.
    max_log_line_bytes: int = 8 * 1024
    #: Bytes of output one run keeps in ``Result.logs``; later lines are only
    #: counted (``Result.logs_dropped``), so one action cannot fill the memory.
    max_log_bytes: int = 256 * 1024
    #: Lines a second of one run's output copied to the executor's own log
    #: (logger ``action.<name>``), in bursts of up to ``log_burst`` lines; the
    #: rest are counted and reported in one record when the run ends.
    log_rate: float = 100.0
    log_burst: int = 200
    #: Resource limits applied in every host before action code runs:
    #: address_space, cpu_seconds, open_files, file_size (bytes), processes.
    limits: dict[str, int] = field(default_factory=default_limits)
    #: Nested runs (actions calling actions) allowed at once in the whole
    #: executor; more are refused at once (no waiting, so no deadlock).
    max_nested_runs: int = 64
    #: How deep actions may call actions through ``actions_api.utils``.
    max_nesting_depth: int = 5
    #: Extra import paths for the default environment's hosts.
    extra_paths: tuple[str, ...] = ()
    #: oslo.config files every host loads into ``cfg.CONF`` before it imports
    #: actions (how Mistral's plugins and std actions read their options).
    host_config_files: tuple[str, ...] = ()
    #: The text of an oslo.config file for actions, built by the service from
    #: the groups of its own configuration meant for them (``[action_executor]
    #: action_config_groups``) so that its credentials never reach a host. The
    #: service writes it under ``<state_dir>/service/`` and puts that file first
    #: in ``host_config_files``; ``Executor`` itself does not read this field.
    action_config: str = ""
    #: Files and directories hidden from every host besides the state directory,
    #: homes, /run and /tmp: the service's own configuration (its passwords).
    hidden_paths: tuple[str, ...] = ()
    #: The sandbox every host applies before action code runs (docs/security.md).
    sandbox: SandboxPolicy = field(default_factory=SandboxPolicy)
    #: Per-environment sandbox policies (environment name -> policy), e.g. a
    #: ``none`` network for an environment that needs no network at all.
    sandbox_by_env: dict[str, SandboxPolicy] = field(default_factory=dict)
    #: Refuse action results that are not plain data instead of converting them
    #: to primitives the way Mistral's executor does (an environment may override).
    strict_serialization: bool = False
    #: Default environment: modules its hosts import before the actions.
    preimport_modules: tuple[str, ...] = ()
    #: Default environment: directories on its hosts' PATH after the interpreter's
    #: own ``bin`` (other environments: ``action-executor env set NAME path=...``).
    host_path: tuple[str, ...] = ()
    #: Default environment: environment variables of its hosts.
    host_environ: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.preload_actions not in PRELOAD_MODES:
            raise ValueError(
                f"preload_actions is {self.preload_actions!r}; use one of {PRELOAD_MODES}"
            )

    def sandbox_for(self, env_name: str) -> SandboxPolicy:
        """The sandbox policy of environment ``env_name``."""
        return self.sandbox_by_env.get(env_name, self.sandbox)
