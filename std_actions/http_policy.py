"""The outbound-request policy of std.http: Mistral's ``[action_std_http]`` options.

std.http runs requests that workflow authors write, from the executor's
network position. Without a policy a workflow could read the cloud metadata
service (169.254.169.254) or services bound to the executor's loopback
(SSRF). The options, their names and defaults are Mistral's, so one
``mistral.conf`` snippet configures both:

``allowed_hosts`` (list, default empty)
    If set, only these host names may be requested.
``denied_cidrs`` (list, default loopback, link-local and 0.0.0.0/8, ::)
    Networks no request may reach; every address the host name resolves to
    is checked. An empty list turns the address check off.
``default_timeout`` (int seconds, default 60)
    Timeout of a request that sets none; 0 means no timeout.
``max_response_size_bytes`` (int, default 5 MiB)
    Largest response body read; 0 means no limit.

The options are registered on ``oslo_config.cfg.CONF`` when oslo.config is
importable (the host loads the operator's file into it with
``action-host --config-file``) and read at every run, so ``set_override``
works in tests. Without oslo.config the defaults apply.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from actions_api import ActionException

GROUP = "action_std_http"

#: Mistral's defaults (loopback, link-local) plus the "this host" addresses
#: 0.0.0.0/8 and ::, which Linux connects to loopback: without them
#: ``http://0.0.0.0:PORT/`` would reach the executor's own services.
DEFAULT_DENIED_CIDRS = (
    "127.0.0.0/8",
    "::1/128",
    "169.254.0.0/16",
    "fe80::/10",
    "0.0.0.0/8",
    "::/128",
)
DEFAULT_TIMEOUT = 60
DEFAULT_MAX_RESPONSE_SIZE = 5 * 1024 * 1024


class UrlNotAllowed(ActionException):
    """The egress policy refuses this URL (Mistral: ``UrlNotAllowedException``)."""


@dataclass(frozen=True)
class Policy:
    """The ``[action_std_http]`` values in force for one request."""

    allowed_hosts: tuple[str, ...] = ()
    denied_cidrs: tuple[str, ...] = DEFAULT_DENIED_CIDRS
    default_timeout: int = DEFAULT_TIMEOUT
    max_response_size_bytes: int = DEFAULT_MAX_RESPONSE_SIZE
    #: Parsed ``denied_cidrs`` (invalid entries are skipped, as Mistral does).
    networks: tuple[Any, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        nets = []
        for cidr in self.denied_cidrs:
            try:
                nets.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                continue
        object.__setattr__(self, "networks", tuple(nets))


def _oslo_options() -> list[Any]:
    from oslo_config import cfg

    return [
        cfg.ListOpt(
            "allowed_hosts",
            default=[],
            help="Host names std.http may request; empty (the default) allows any host "
            "that denied_cidrs does not block.",
        ),
        cfg.ListOpt(
            "denied_cidrs",
            default=list(DEFAULT_DENIED_CIDRS),
            help="Networks std.http may not reach (SSRF protection). Defaults to "
            "loopback, link-local (which covers the cloud metadata service) and "
            "0.0.0.0/8 and :: (which Linux connects to loopback). "
            "An empty list disables the address check.",
        ),
        cfg.IntOpt(
            "default_timeout",
            default=DEFAULT_TIMEOUT,
            min=0,
            help="Timeout in seconds of a std.http request that sets none; 0: none.",
        ),
        cfg.IntOpt(
            "max_response_size_bytes",
            default=DEFAULT_MAX_RESPONSE_SIZE,
            min=0,
            help="Largest std.http response body in bytes (Content-Length and the "
            "bytes actually read); 0: no limit.",
        ),
    ]


def register_options() -> bool:
    """Register the group on ``cfg.CONF``; False when oslo.config is not installed.

    Idempotent. If another package (Mistral itself) already registered the
    same names with other help texts, its options are used as they are.
    """
    try:
        from oslo_config import cfg
    except ImportError:
        return False
    for opt in _oslo_options():
        try:
            cfg.CONF.register_opt(opt, group=GROUP)
        except cfg.DuplicateOptError:
            pass
    return True


def current_policy() -> Policy:
    """The policy from ``cfg.CONF`` now, or the defaults without oslo.config."""
    if not register_options():
        return Policy()
    from oslo_config import cfg

    try:
        group = getattr(cfg.CONF, GROUP)
        return Policy(
            allowed_hosts=tuple(group.allowed_hosts or ()),
            denied_cidrs=tuple(group.denied_cidrs or ()),
            default_timeout=int(group.default_timeout or 0),
            max_response_size_bytes=int(group.max_response_size_bytes or 0),
        )
    except cfg.Error as exc:
        raise ActionException(
            f"the [{GROUP}] configuration is invalid: {exc}; fix the executor's "
            "config file (see docs/std-actions.md)"
        ) from None


def validate_url(url: str, policy: Policy) -> None:
    """Refuse non-http(s) URLs, hosts outside ``allowed_hosts`` and denied addresses.

    Every address the name resolves to must be allowed. A name that does not
    resolve passes (the request then fails to connect anyway). A DNS answer
    that changes between this check and the connection (rebinding) is not
    caught: isolate the executor's network from metadata and management
    endpoints where that matters.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlNotAllowed(f"URL scheme {parts.scheme!r} is not allowed (only http and https are)")
    host = parts.hostname
    if not host:
        raise UrlNotAllowed("the URL has no host")
    if policy.allowed_hosts and host not in policy.allowed_hosts:
        raise UrlNotAllowed(
            f"host {host!r} is not in [{GROUP}] allowed_hosts of the executor's configuration"
        )
    if not policy.networks:
        return
    try:
        port = parts.port
    except ValueError:
        raise UrlNotAllowed(f"the URL has an invalid port: {url!r}") from None
    try:
        infos = socket.getaddrinfo(host, port)
    except (socket.gaierror, UnicodeError):
        return
    for info in infos:
        address: Any = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        candidates = [address]
        if address.version == 6 and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        for candidate in candidates:
            for network in policy.networks:
                if candidate.version == network.version and candidate in network:
                    raise UrlNotAllowed(
                        f"host {host!r} resolves to {candidate}, in a network the "
                        f"executor's [{GROUP}] denied_cidrs blocks ({network})"
                    )


def list_opts() -> list[tuple[str, list[Any]]]:
    """For ``oslo-config-generator`` (an ``oslo.config.opts`` entry point)."""
    return [(GROUP, _oslo_options())]
