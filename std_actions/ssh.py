"""std.ssh and std.ssh_proxied: run a shell command on remote hosts (paramiko).

Parameters, defaults and attribute names are Mistral's, including the
``params`` dict Mistral keeps beside the attributes (an action Mistral
serialized with ``vars()`` carries ``proxy_command`` only there). As in
Mistral, host keys are not checked (paramiko ``AutoAddPolicy``).

Differences from Mistral, all documented in docs/std-actions.md:

* connections and commands have timeouts (``CONNECT_TIMEOUT``,
  ``COMMAND_TIMEOUT``, class attributes a subclass may change); Mistral has
  none, so a dead host or a hung command pinned the action forever;
* ``host`` and ``gateway_host`` may carry a port (``host:2222``,
  ``[::1]:2222``);
* only the credentials given are used: no SSH agent and no default keys;
* key files are looked up in the ``.ssh`` folder of the account's home
  (not ``$HOME``, which the sandbox points at a scratch folder) and must
  stay inside it;
* stdout and stderr are read together (Mistral read stdout first and could
  hang when a command filled stderr);
* std.ssh_proxied opens a ``direct-tcpip`` channel through the gateway and
  falls back to running ``nc HOST PORT`` there (Mistral always runs ``nc``).

Passwords and keys are never logged; error messages name the command, the
host and what went wrong, never a credential.
"""

from __future__ import annotations

import io
import json
import logging
import os
import posixpath
import pwd
import select
import shlex
import time
from typing import Any

from actions_api import Action, ActionContext, ActionException
from actions_api.secrets import mask

from ._deps import require

try:  # Import now, so a fork template that preloads actions has it warm (~0.25 s).
    import paramiko  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
except ImportError:  # run() says what to install
    pass

LOG = logging.getLogger(__name__)

#: Folder relative ``private_key_filename`` values are read from; None: the
#: ``.ssh`` folder of the home directory of the account the host runs as.
KEY_DIR: str | None = None

_READ_SIZE = 32 * 1024


def key_dir() -> str:
    if KEY_DIR is not None:
        return KEY_DIR
    return os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".ssh")


def key_path(private_key_filename: str) -> str:
    """The key file's path, refusing anything outside the key folder."""
    parts = private_key_filename.replace("\\", "/").split("/")
    if ".." in parts:
        raise ActionException(
            f"private_key_filename must not contain '..' (got {private_key_filename!r}); "
            f"name a file in {key_dir()}"
        )
    base = posixpath.normpath(key_dir())
    path = posixpath.normpath(posixpath.join(base, private_key_filename))
    if path != base and not path.startswith(base + "/"):
        raise ActionException(
            f"private_key_filename {private_key_filename!r} is outside the key folder {base}; "
            "give a name relative to it"
        )
    return path


def split_host(spec: str, default_port: int = 22) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address -> (host, port)."""
    spec = str(spec).strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif spec.count(":") == 1:
        host, _, port = spec.partition(":")
    else:
        host, port = spec, ""
    if not host:
        raise ActionException(f"invalid SSH host {spec!r}: expected host or host:port")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ActionException(f"invalid port in SSH host {spec!r}")
    return host, int(port)


def _key_via_cryptography(
    paramiko: Any, private_key: str | None, path: str | None, password: str | None
) -> Any:
    """Parse with ``cryptography`` and hand the key to paramiko: paramiko's own
    OpenSSH-format ECDSA parser refuses about half of valid keys ("Invalid key
    curve identifier", measured with keys from asyncssh and ssh-keygen)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if private_key:
        data = private_key.encode()
    else:
        assert path is not None
        with open(path, "rb") as f:
            data = f.read()
    secret = password.encode() if password else None
    if b"OPENSSH PRIVATE KEY" in data:
        key: Any = serialization.load_ssh_private_key(data, secret)
    else:
        key = serialization.load_pem_private_key(data, secret)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return paramiko.ECDSAKey(vals=(key, key.public_key()))
    if isinstance(key, rsa.RSAPrivateKey):
        return paramiko.RSAKey(key=key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        return paramiko.Ed25519Key.from_private_key(io.StringIO(raw.decode()))
    raise ValueError(f"unsupported key type {type(key).__name__}")


def load_private_key(
    private_key_filename: str | None, private_key: str | None, password: str | None
) -> Any:
    """A paramiko key from PEM/OpenSSH text or a key file; ``password`` is its passphrase."""
    if not private_key and not private_key_filename:
        return None
    paramiko = require("paramiko", "std.ssh")
    path = key_path(private_key_filename) if private_key_filename and not private_key else None
    if path is not None and not os.path.isfile(path):
        raise ActionException(f"private key file {path} does not exist")
    last: Exception | None = None
    for key_class in (paramiko.RSAKey, paramiko.ECDSAKey, paramiko.Ed25519Key):
        try:
            if private_key:
                return key_class.from_private_key(io.StringIO(private_key), password=password)
            return key_class.from_private_key_file(path, password=password)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            last = exc
    try:
        return _key_via_cryptography(paramiko, private_key, path, password)
    except (OSError, ValueError, TypeError, paramiko.SSHException) as exc:
        last = exc
    what = f"file {path}" if path else "private_key"
    raise ActionException(
        f"the {what} could not be read as an RSA, ECDSA or Ed25519 private key "
        f"({type(last).__name__}); check the key and its passphrase (given as 'password')"
    )


class SSHAction(Action):
    """Run ``cmd`` over SSH on ``host`` (or on each host of a list, in order).

    Returns the command's stdout; for several hosts a list of them (a list
    of one host gives a single value, as in Mistral). A non-zero exit fails
    the action unless ``return_result_on_error``: then every result is
    ``{"stdout", "stderr", "exit_code"}``.
    """

    #: Seconds to connect, read the banner, authenticate and open a channel.
    CONNECT_TIMEOUT = 30.0
    #: Seconds a command may run (per host) before the action fails.
    COMMAND_TIMEOUT = 3600.0

    def __init__(
        self,
        cmd: str,
        host: str | list[str],
        username: str,
        password: str = "",
        private_key_filename: str | None = None,
        private_key: str | None = None,
        return_result_on_error: bool = False,
    ):
        self.cmd = cmd
        self.host = host
        self.username = username
        self.password = password
        self.private_key_filename = private_key_filename
        self.private_key = private_key
        self.return_result_on_error = return_result_on_error
        self.params = {
            "cmd": cmd,
            "host": host,
            "username": username,
            "password": password,
            "private_key_filename": private_key_filename,
            "private_key": private_key,
        }

    def _param(self, name: str) -> Any:
        """A parameter as Mistral reads it: from ``params``, else the attribute."""
        params = getattr(self, "params", None) or {}
        if name in params:
            return params[name]
        return getattr(self, name, None)

    def run(self, context: ActionContext) -> Any:
        hosts = self.host if isinstance(self.host, list) else [self.host]
        with_result = bool(getattr(self, "return_result_on_error", False))
        results: list[Any] = []
        for host in hosts:
            try:
                code, stdout, stderr = self._execute(str(host))
            except ActionException as exc:
                raise ActionException(f"Failed to execute ssh cmd {self.cmd!r} on {host}: {exc}")
            except Exception as exc:
                LOG.warning("ssh to %s failed: %s: %s", host, type(exc).__name__, exc)
                raise ActionException(
                    f"Failed to execute ssh cmd {self.cmd!r} on {host}: {type(exc).__name__}: {exc}"
                )
            if with_result:
                results.append({"stdout": stdout, "stderr": stderr, "exit_code": code})
                continue
            if code != 0:
                LOG.warning("ssh cmd on %s exited with %s; stderr: %s", host, code, stderr[-2000:])
                raise ActionException(
                    f"Failed to execute ssh cmd {self.cmd!r} on {host}: exit code {code}"
                )
            results.append(stdout)
        return results if len(results) > 1 else (results[0] if results else None)

    def _execute(self, host: str) -> tuple[int, str, str]:
        password = self._param("password")
        pkey = load_private_key(
            self._param("private_key_filename"), self._param("private_key"), password or None
        )
        client = self._connect(host, self._param("username"), password or None, pkey)
        try:
            return self._run_command(client, self._param("cmd") or self.cmd)
        finally:
            client.close()

    def _connect(
        self, host: str, username: str, password: str | None, pkey: Any, sock: Any = None
    ) -> Any:
        paramiko = require("paramiko", "std.ssh")
        name, port = split_host(host)
        LOG.info("Connecting over SSH to %s:%s as %s", name, port, username)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        timeout = float(getattr(self, "CONNECT_TIMEOUT", SSHAction.CONNECT_TIMEOUT))
        try:
            client.connect(
                name,
                port=port,
                username=username,
                password=password,
                pkey=pkey,
                sock=sock,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except BaseException:
            client.close()
            raise
        return client

    def _run_command(self, client: Any, cmd: str) -> tuple[int, str, str]:
        """Run ``cmd``; read stdout and stderr together until exit or the deadline."""
        limit = float(getattr(self, "COMMAND_TIMEOUT", SSHAction.COMMAND_TIMEOUT))
        deadline = time.monotonic() + limit
        LOG.debug("Executing command %s", cmd)
        chan = client.get_transport().open_session(
            timeout=float(getattr(self, "CONNECT_TIMEOUT", SSHAction.CONNECT_TIMEOUT))
        )
        try:
            chan.exec_command(cmd)
            out, err = bytearray(), bytearray()
            while True:
                # Decide "finished" before draining: once EOF and the exit status
                # are in, every byte of output is already buffered.
                finished = chan.exit_status_ready() and (chan.eof_received or chan.closed)
                busy = False
                while chan.recv_ready():
                    out += chan.recv(_READ_SIZE)
                    busy = True
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(_READ_SIZE)
                    busy = True
                if finished and not busy:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ActionException(f"the command did not finish within {limit:g} s")
                if not busy:
                    select.select([chan], [], [], min(left, 0.5))
            code = chan.recv_exit_status()
        finally:
            chan.close()
        return (
            code,
            out.decode("utf-8", errors="replace"),
            err.decode("utf-8", errors="replace"),
        )

    def test(self, context: ActionContext) -> str:
        return json.dumps(mask(dict(getattr(self, "params", {}) or {})))


class SSHProxiedAction(SSHAction):
    """std.ssh through a gateway host: SSH to the gateway, tunnel to ``host``, SSH there.

    ``gateway_username`` defaults to ``username``. ``proxy_command`` (as in
    OpenSSH's ProxyCommand) reaches the gateway itself. Authentication is by
    the key on both hops, as in Mistral (``password`` is the key's
    passphrase); without a key ``password`` is the login password.
    """

    def __init__(
        self,
        cmd: str,
        host: str | list[str],
        username: str,
        private_key_filename: str | None,
        gateway_host: str,
        gateway_username: str | None = None,
        password: str | None = None,
        proxy_command: str | None = None,
        private_key: str | None = None,
    ):
        super().__init__(cmd, host, username, password, private_key_filename, private_key)  # type: ignore[arg-type]
        self.gateway_host = gateway_host
        self.gateway_username = gateway_username
        self.params.update(
            {
                "gateway_host": gateway_host,
                "gateway_username": gateway_username,
                "proxy_command": proxy_command,
            }
        )

    def _execute(self, host: str) -> tuple[int, str, str]:
        paramiko = require("paramiko", "std.ssh_proxied")
        password = self._param("password") or None
        pkey = load_private_key(
            self._param("private_key_filename"), self._param("private_key"), password
        )
        login_password = None if pkey is not None else password
        username = self._param("username")
        proxy_command = self._param("proxy_command")
        sock = None
        if proxy_command:
            LOG.info("Reaching the gateway through a proxy command")
            sock = paramiko.ProxyCommand(proxy_command)
        gateway = self._connect(
            str(self._param("gateway_host")),
            self._param("gateway_username") or username,
            login_password,
            pkey,
            sock=sock,
        )
        try:
            tunnel = self._open_tunnel(gateway, host)
            client = self._connect(host, username, login_password, pkey, sock=tunnel)
            try:
                return self._run_command(client, self._param("cmd") or self.cmd)
            finally:
                client.close()
        finally:
            gateway.close()

    def _open_tunnel(self, gateway: Any, host: str) -> Any:
        """A channel to ``host``'s SSH port: direct-tcpip, else ``nc`` on the gateway."""
        paramiko = require("paramiko", "std.ssh_proxied")
        name, port = split_host(host)
        timeout = float(getattr(self, "CONNECT_TIMEOUT", SSHAction.CONNECT_TIMEOUT))
        transport = gateway.get_transport()
        try:
            return transport.open_channel(
                "direct-tcpip", (name, port), ("127.0.0.1", 0), timeout=timeout
            )
        except paramiko.ChannelException as exc:
            LOG.info("gateway refused a direct-tcpip channel (%s); running nc there instead", exc)
        chan = transport.open_session(timeout=timeout)
        chan.exec_command(f"nc {shlex.quote(name)} {port}")
        return chan
