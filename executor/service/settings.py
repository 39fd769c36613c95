"""What the service's options mean, built from what ``options`` declares.

``options`` holds the declarations (names, types, defaults, help) that
operators and ``oslo-config-generator`` read; this module turns a loaded
``ConfigOpts`` into the objects the service runs on: the executor's
``ExecutorConfig`` and ``SandboxPolicy``, the service's own
``ServiceSettings``, and the configuration file a host may read.
"""

from __future__ import annotations

import contextlib
import glob
import os
from dataclasses import dataclass, fields, replace
from typing import Any

from oslo_config import cfg

from executor.config import ExecutorConfig
from executor.layout import StateLayout
from executor.sandbox.model import NETWORK_POLICIES, SandboxPolicy, check_networks
from executor.service.options import REFUSED_ACTION_CONFIG_GROUPS, action_executor_opts


def _int_limits(raw: dict[str, Any]) -> dict[str, int]:
    known = {"address_space", "cpu_seconds", "open_files", "file_size", "processes"}
    limits: dict[str, int] = {}
    for name, value in raw.items():
        if name not in known:
            raise ValueError(
                f"[action_executor] limits: unknown limit {name!r}; "
                f"known: {', '.join(sorted(known))}"
            )
        try:
            limits[name] = int(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"[action_executor] limits: {name}={value!r} is not a whole number "
                "(bytes or seconds)"
            ) from None
    return limits


def executor_config(conf: cfg.ConfigOpts) -> ExecutorConfig:
    """``ExecutorConfig`` from ``[action_executor]``; unset options keep its defaults."""
    group = conf.action_executor
    config = ExecutorConfig()
    names = {f.name for f in fields(ExecutorConfig)}
    for opt in action_executor_opts:
        if opt.dest not in names:
            continue
        value = group[opt.dest]
        if opt.dest == "state_dir" and not value:
            continue
        if opt.dest in ("sandbox", "sandbox_by_env"):
            continue  # built from [sandbox] below
        if opt.dest == "limits":
            value = _int_limits(value)
        elif opt.dest in ("extra_paths", "preimport_modules", "host_path", "host_config_files"):
            value = tuple(value)
        elif opt.dest == "hidden_paths":
            # the service's own configuration is hidden from every host
            value = tuple(dict.fromkeys([*value, *service_config_paths(conf)]))
        elif opt.dest == "host_environ":
            value = dict(value)
        setattr(config, opt.dest, value)
    config.action_config = action_config(conf, group.action_config_groups)
    config.sandbox = sandbox_policy(conf)
    config.sandbox_by_env = _sandbox_by_env(group.sandbox_by_env, config.sandbox)
    return config


def check_action_config_groups(groups: list[str]) -> None:
    """Refuse the groups that hold the service's own settings or credentials."""
    refused = {g.lower() for g in REFUSED_ACTION_CONFIG_GROUPS}
    for group in groups:
        if group.lower() in refused or group.lower().startswith("oslo_messaging"):
            raise ValueError(
                f"[action_executor] action_config_groups: {group!r} holds the service's "
                "own settings or credentials and is never given to actions; refused: "
                f"{', '.join(REFUSED_ACTION_CONFIG_GROUPS)} and oslo_messaging*"
            )


def service_config_files(conf: cfg.ConfigOpts) -> list[str]:
    """The files the service's configuration was read from, in oslo.config's
    order (later ones win): its config files, then the ``*.conf`` of its
    config directories. oslo.config reads its default directories before the
    files given on the command line, and after its default files."""
    files = [_fix(f) for f in conf.config_file or ()]
    dirs = [_fix(d) for d in conf.config_dirs]
    if dirs:
        return files + _dir_files(dirs)
    defaults = _dir_files([_fix(d) for d in conf.default_config_dirs or () if os.path.isdir(d)])
    if files == [_fix(f) for f in conf.default_config_files or ()]:
        return files + defaults
    return defaults + files


def service_config_paths(conf: cfg.ConfigOpts) -> list[str]:
    """The service's configuration files and directories (hidden from hosts)."""
    dirs = [_fix(d) for d in conf.config_dirs]
    return list(dict.fromkeys([*service_config_files(conf), *dirs]))


def _fix(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _dir_files(dirs: list[str]) -> list[str]:
    return [f for d in dirs for f in sorted(glob.glob(os.path.join(d, "*.conf")))]


def action_config(conf: cfg.ConfigOpts, groups: list[str]) -> str:
    """An oslo.config file holding ``groups`` of the service's configuration
    files and nothing else: what hosts load instead of the service's files.

    The files are read again with oslo.config's own parser (the service's
    ``conf`` holds only the options it registered, not a plugin's group).
    Later files override earlier ones, option by option. An option the
    service registered as secret in that group is left out.
    """
    check_action_config_groups(groups)
    values: dict[str, dict[str, list[str]]] = {g: {} for g in groups}
    for path in service_config_files(conf):
        sections: dict[str, dict[str, list[str]]] = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except OSError as exc:
            raise ValueError(f"cannot read {path} for the actions' options: {exc}") from None
        for group in groups:
            values[group].update(sections.get(group, {}))
    lines = []
    for group, found in values.items():
        kept = {k: v for k, v in found.items() if not _is_secret(conf, group, k)}
        if kept:
            lines.append(f"[{group}]")
            lines += [f"{key} = {_ini_value(v)}" for key, vs in kept.items() for v in vs]
            lines.append("")
    if not lines:
        return ""
    head = (
        "# The groups of the service's configuration that actions get "
        f"([action_executor] action_config_groups: {', '.join(groups)})\n"
    )
    return head + "\n".join(lines)


def _is_secret(conf: cfg.ConfigOpts, group: str, key: str) -> bool:
    """Did the service register ``[group] key`` as a secret option?"""
    try:
        # oslo.config has no public accessor for an option's definition
        info = conf._get_opt_info(key.replace("-", "_"), group)
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        return False
    return bool(info["opt"].secret)


def _ini_value(value: str) -> str:
    """``value`` written so that oslo.config's parser reads it back as it is:
    quoted when its ends would be stripped, continued on indented lines."""
    if value != value.strip() or (len(value) >= 2 and value[0] == value[-1] in "'\""):
        value = f'"{value}"'
    return value.replace("\n", "\n    ")


def sandbox_policy(conf: cfg.ConfigOpts) -> SandboxPolicy:
    """The default ``SandboxPolicy``: ``[sandbox]`` and ``[action_executor] sandbox``."""
    group = conf.sandbox
    return SandboxPolicy(
        enabled=conf.action_executor.sandbox,
        network=group.network,
        private_filesystem=group.private_filesystem,
        pid_namespace=group.pid_namespace,
        tmpfs_size=group.tmpfs_size,
        # 0 in the file means "no limit", None in the policy
        max_processes=group.max_processes or None,
        memory_limit=group.memory_limit or None,
        cpu_weight=group.cpu_weight or None,
        cpu_max=group.cpu_max or None,
        per_action_uid=group.per_action_uid,
        uid_range=(group.uid_range_first, group.uid_range_count),
        uids_per_template=group.uids_per_template,
        egress_deny=_networks("egress_deny", group.egress_deny),
        egress_allow=_networks("egress_allow", group.egress_allow),
        seccomp=group.seccomp,
        landlock=group.landlock,
        required=tuple(group.required),
    )


def _networks(option: str, values: list[str]) -> tuple[str, ...]:
    """``[sandbox] egress_deny/egress_allow``: a mistake names the option."""
    check_networks(f"[sandbox] {option}", values)
    return tuple(values)


def _sandbox_by_env(raw: dict[str, Any], default: SandboxPolicy) -> dict[str, SandboxPolicy]:
    """``ENV:POLICY`` pairs: the default policy with another network, or off."""
    by_env: dict[str, SandboxPolicy] = {}
    for env, value in raw.items():
        value = str(value).strip()
        if value == "off":
            by_env[env] = replace(default, enabled=False)
        elif value in NETWORK_POLICIES:
            by_env[env] = replace(default, network=value)
        else:
            raise ValueError(
                f"[action_executor] sandbox_by_env: {env}:{value} is not a sandbox policy; "
                f"use a network policy ({', '.join(NETWORK_POLICIES)}) or 'off', "
                "e.g. sandbox_by_env = offline:none,legacy:off"
            )
    return by_env


@dataclass(frozen=True)
class ServiceSettings:
    """What the service itself reads from the configuration, in one place."""

    host: str
    executor_topic: str
    engine_topic: str
    heartbeat_interval: float  # 0: disabled
    rpc_response_timeout: float
    shutdown_grace_period: float
    shutdown_delivery_timeout: float
    journal_file: str
    delivery_retry_interval: float
    delivery_workers: int
    max_concurrency: int
    queue_size: int
    metrics_port: int = 0  # 0: no metrics, no /healthz
    metrics_host: str = "127.0.0.1"

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, config: ExecutorConfig) -> ServiceSettings:
        hb = conf.action_heartbeat
        interval = hb.check_interval if hb.check_interval and hb.max_missed_heartbeats else 0
        svc = conf.action_executor_service
        journal = svc.journal_file or os.path.join(
            StateLayout(config.state_dir).journals,
            f"journal-{safe_name(conf.executor.host)}.sqlite",
        )
        return cls(
            host=conf.executor.host,
            executor_topic=conf.executor.topic,
            engine_topic=conf.engine.topic,
            heartbeat_interval=float(interval),
            rpc_response_timeout=float(conf.rpc_response_timeout),
            shutdown_grace_period=svc.shutdown_grace_period,
            shutdown_delivery_timeout=svc.shutdown_delivery_timeout,
            journal_file=journal,
            delivery_retry_interval=svc.delivery_retry_interval,
            delivery_workers=svc.delivery_workers,
            max_concurrency=config.max_concurrency,
            queue_size=config.queue_size,
            metrics_port=svc.metrics_port,
            metrics_host=svc.metrics_host,
        )


def safe_name(host: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in host) or "default"


def action_config_file(config: ExecutorConfig, host: str) -> str:
    """Where this service keeps the config file of its hosts: in the state
    directory (hidden from every host), one per service (``[executor] host``)."""
    name = f"action-config-{safe_name(host)}.conf"
    return os.path.join(StateLayout(config.state_dir).service, name)


def with_action_config(config: ExecutorConfig, host: str) -> ExecutorConfig:
    """``config`` whose hosts get ``config.action_config`` as their first config file.

    Written at every start (mode 0600, replaced in one rename): the executor
    reads it when it starts a host and hands the host its content, never the
    path (``executor.sandbox.runtime``). Nothing to give: no file, and an old
    one is removed.
    """
    path = action_config_file(config, host)
    if not config.action_config:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return config
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(config.action_config)
    os.replace(tmp, path)
    return replace(config, host_config_files=(path, *config.host_config_files))
