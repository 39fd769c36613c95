"""Real servers on 127.0.0.1 for the std action tests: HTTP, SMTP and SSH.

Each server runs in a background thread of the test process, so in-process
action runs and runs through an ``Executor`` (whose hosts are other
processes) reach the same server.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

# ---------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    """Routes (query parameters in brackets):

    /json, /text, /echo (method, path, query, headers, body as JSON),
    /status?code=N, /redirect?to=URL, /slow?seconds=S, /big?size=N (with
    Content-Length), /stream?size=N (no Content-Length: read until close),
    /auth (Basic u:p), /cookie (sets a cookie and echoes the Cookie header).
    """

    server: HTTPTestServer  # type: ignore[assignment,unused-ignore]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, value: Any, extra: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(value).encode(), "application/json", extra)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            {
                "method": self.command,
                "path": parts.path,
                "query": query,
                "headers": dict(self.headers.items()),
                "body": body.decode("utf-8", "replace"),
            }
        )
        route = parts.path
        if route == "/json":
            self._json(200, {"hello": "world", "n": [1, 2]})
        elif route == "/text":
            self._send(200, "plain text, ünicode".encode(), "text/plain; charset=utf-8")
        elif route == "/echo":
            self._json(200, self.server.requests[-1])
        elif route == "/status":
            code = int(query.get("code", "500"))
            self._json(code, {"status": code})
        elif route == "/redirect":
            self._send(302, b"", "text/plain", {"Location": query["to"]})
        elif route == "/slow":
            time.sleep(float(query.get("seconds", "5")))
            self._json(200, {"slow": True})
        elif route == "/big":
            self._send(200, b"x" * int(query["size"]), "application/octet-stream")
        elif route == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            size = int(query["size"])
            while size > 0:
                n = min(size, 65536)
                self.wfile.write(b"y" * n)
                size -= n
            self.close_connection = True
        elif route == "/auth":
            import base64

            expected = "Basic " + base64.b64encode(b"user:s3cret-pw").decode()
            if self.headers.get("Authorization") == expected:
                self._json(200, {"authenticated": True})
            else:
                self._json(401, {"authenticated": False}, {"WWW-Authenticate": "Basic"})
        elif route == "/cookie":
            self._json(
                200, {"cookie": self.headers.get("Cookie")}, {"Set-Cookie": "session=abc123"}
            )
        else:
            self._json(404, {"error": "no such route"})

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class HTTPTestServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: size-limit tests hang up on purpose mid-response."""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def http_server() -> Iterator[HTTPTestServer]:
    server = HTTPTestServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---------------------------------------------------------------- certificates


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1/localhost (cryptography)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# ---------------------------------------------------------------- SMTP


@dataclass
class Mailbox:
    """What an SMTP server received."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "content": envelope.content.decode("utf-8", "replace"),
                "tls": session.ssl is not None,
            }
        )
        return "250 OK"


@contextmanager
def smtp_server(
    tmp: Path | None = None, *, password: str | None = None
) -> Iterator[tuple[str, Mailbox]]:
    """An aiosmtpd server; with ``password``: STARTTLS (self-signed) and AUTH required."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    box = Mailbox()
    kwargs: dict[str, Any] = {}
    if password is not None:
        assert tmp is not None
        cert, key = self_signed_cert(tmp)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
            login = data.login.decode() if isinstance(data.login, bytes) else data.login
            secret = data.password.decode() if isinstance(data.password, bytes) else data.password
            ok = secret == password
            if ok:
                box.logins.append((login, secret))
            return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

        kwargs = {
            "tls_context": context,
            "require_starttls": True,
            "auth_required": True,
            "auth_require_tls": True,
            "authenticator": authenticator,
        }
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield f"127.0.0.1:{controller.port}", box
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- SSH


class BackgroundLoop:
    """An asyncio loop in a daemon thread (for the asyncssh servers)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class SSHServer:
    """One asyncssh server: real shell commands, password and key logins."""

    port: int
    log: list[str]
    acceptor: Any = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def make_keys(directory: Path) -> dict[str, str]:
    """Client private keys (OpenSSH/PEM text) by type, and their authorized_keys file."""
    import asyncssh

    keys = {}
    public = []
    for kind, alg in (
        ("rsa", "ssh-rsa"),
        ("ecdsa", "ecdsa-sha2-nistp256"),
        ("ed25519", "ssh-ed25519"),
    ):
        key = asyncssh.generate_private_key(alg)
        fmt = "pkcs1-pem" if kind == "rsa" else "openssh"
        keys[kind] = key.export_private_key(fmt).decode()
        public.append(key.export_public_key().decode())
    (directory / "authorized_keys").write_text("".join(public))
    keys["authorized_keys"] = str(directory / "authorized_keys")
    return keys


async def _start_ssh(
    server: SSHServer,
    *,
    users: dict[str, str],
    authorized_keys: str,
    allow_forwarding: bool,
) -> None:
    import asyncssh

    log = server.log

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            ok = users.get(username) == password
            log.append(f"password-auth {username} {'ok' if ok else 'refused'}")
            return ok

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key: Any) -> bool:
            keys = asyncssh.read_authorized_keys(authorized_keys)
            ok = username in users and keys.validate(key, "127.0.0.1", "127.0.0.1") is not None
            log.append(f"key-auth {username} {'ok' if ok else 'refused'}")
            return ok

        def connection_requested(self, dest_host: str, dest_port: int, *_: Any) -> bool:
            log.append(f"direct-tcpip {dest_host}:{dest_port} {allow_forwarding}")
            return allow_forwarding

    async def process(proc: Any) -> None:
        command = proc.command or ""
        log.append(f"exec {command}")
        if command.startswith("nc "):
            _, host, port = command.split()
            reader, writer = await asyncio.open_connection(host, int(port))
            await proc.redirect(stdin=writer, stdout=reader)
            await proc.wait_closed()
            return
        child = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await child.communicate()
        proc.stdout.write(out)
        proc.stderr.write(err)
        await proc.stdout.drain()
        await proc.stderr.drain()
        proc.exit(child.returncode)

    host_key = asyncssh.generate_private_key("ssh-ed25519")
    server.acceptor = await asyncssh.create_server(
        Server,
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        process_factory=process,
        encoding=None,
        line_editor=False,
        allow_scp=False,
    )
    server.port = server.acceptor.sockets[0].getsockname()[1]


def start_ssh_server(
    loop: BackgroundLoop,
    *,
    users: dict[str, str],
    authorized_keys: str,
    allow_forwarding: bool = True,
) -> SSHServer:
    server = SSHServer(port=0, log=[])
    loop.call(
        _start_ssh(
            server,
            users=users,
            authorized_keys=authorized_keys,
            allow_forwarding=allow_forwarding,
        )
    )
    return server


def stop_ssh_server(loop: BackgroundLoop, server: SSHServer) -> None:
    async def stop() -> None:
        server.acceptor.close()
        await server.acceptor.wait_closed()

    loop.call(stop())


PROXY_SCRIPT = """\
import os, socket, sys, threading
host, port, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
open(marker, "w").write("used")
s = socket.create_connection((host, port))
def up():
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    os.write(1, data)
"""


def write_proxy_script(directory: Path) -> Path:
    """A ProxyCommand program: bridges stdin/stdout to HOST PORT, touches MARKER."""
    path = directory / "proxy.py"
    path.write_text(PROXY_SCRIPT)
    return path


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
