"""Small Keystone, Nova and Cinder stand-ins: real HTTP servers on loopback.

Every request must carry the valid token in ``X-Auth-Token`` (else 401);
Keystone serves the catalog for ``GET /v3/auth/tokens``.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "gAAAAAB-user-token-0123456789"
PROJECT = "p-42"
REGION = "RegionOne"


class Cloud:
    """Shared state of the three services, and a record of every request."""

    def __init__(self) -> None:
        self.servers: dict[str, dict[str, Any]] = {
            "vm-1": {"id": "vm-1", "name": "web", "status": "ACTIVE", "volumes": []}
        }
        self.volumes: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str, str | None]] = []
        self._ids = itertools.count(1)
        self.servers_http: dict[str, ThreadingHTTPServer] = {}

    def url(self, service: str) -> str:
        host, port = self.servers_http[service].server_address[:2]
        return f"http://{host}:{port}"

    def catalog(self) -> dict[str, Any]:
        def entry(kind: str, service: str, suffix: str) -> dict[str, Any]:
            return {
                "type": kind,
                "name": service,
                "endpoints": [
                    {
                        "interface": "public",
                        "region_id": REGION,
                        "region": REGION,
                        "url": self.url(service) + suffix,
                    }
                ],
            }

        return {
            "token": {
                "project": {"id": PROJECT},
                "catalog": [
                    entry("identity", "keystone", "/v3"),
                    entry("compute", "nova", "/v2.1"),
                    entry("block-storage", "cinder", f"/v3/{PROJECT}"),
                ],
            }
        }

    def security_context(self, with_catalog: bool = True) -> dict[str, Any]:
        return {
            "auth_token": TOKEN,
            "auth_uri": self.url("keystone") + "/v3",
            "project_id": PROJECT,
            "project_name": "demo",
            "user_name": "alice",
            "region_name": REGION,
            "service_catalog": self.catalog() if with_catalog else None,
        }

    # -- request handling ------------------------------------------------------

    def handle(self, service: str, method: str, path: str, body: Any) -> tuple[int, Any]:
        if service == "keystone" and method == "GET" and path == "/v3/auth/tokens":
            return 200, self.catalog()
        if service == "nova":
            return self._nova(method, path.removeprefix("/v2.1"), body)
        if service == "cinder":
            return self._cinder(method, path.removeprefix(f"/v3/{PROJECT}"), body)
        return 404, {"error": f"no route {method} {path}"}

    def _nova(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if method == "GET" and parts == ["servers", "detail"]:
            return 200, {"servers": list(self.servers.values())}
        if method == "GET" and len(parts) == 2 and parts[0] == "servers":
            server = self.servers.get(parts[1])
            return (200, {"server": server}) if server else (404, {"itemNotFound": parts[1]})
        if method == "POST" and len(parts) == 3 and parts[2] == "os-volume_attachments":
            server = self.servers.get(parts[1])
            volume = self.volumes.get(body["volumeAttachment"]["volumeId"])
            if not server or not volume:
                return 404, {"itemNotFound": "server or volume"}
            volume["status"] = "in-use"
            server["volumes"].append(volume["id"])
            attachment = {"id": volume["id"], "serverId": server["id"], "device": "/dev/vdb"}
            return 200, {"volumeAttachment": attachment}
        return 404, {"error": f"no route {method} {path}"}

    def _cinder(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["volumes"]:
            volume_id = f"vol-{next(self._ids)}-{uuid.uuid4().hex[:6]}"
            created = {
                "id": volume_id,
                "size": body["volume"]["size"],
                "status": "creating",
                "name": body["volume"].get("name"),
                "polls": 0,
            }
            self.volumes[volume_id] = created
            return 202, {"volume": created}
        if method == "GET" and len(parts) == 2 and parts[0] == "volumes":
            volume = self.volumes.get(parts[1])
            if volume is None:
                return 404, {"itemNotFound": parts[1]}
            volume["polls"] += 1
            if volume["status"] == "creating" and volume["polls"] >= 2:
                volume["status"] = "available"
            return 200, {"volume": volume}
        return 404, {"error": f"no route {method} {path}"}


def _handler(cloud: Cloud, service: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            token = self.headers.get("X-Auth-Token")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            cloud.requests.append((service, method, self.path, token))
            if token != TOKEN:
                status, payload = 401, {"error": {"code": 401, "message": "invalid token"}}
            else:
                status, payload = cloud.handle(
                    service, method, self.path, json.loads(raw or b"null")
                )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def start_cloud() -> Cloud:
    cloud = Cloud()
    for service in ("keystone", "nova", "cinder"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cloud, service))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        cloud.servers_http[service] = server
    return cloud


def stop_cloud(cloud: Cloud) -> None:
    for server in cloud.servers_http.values():
        server.shutdown()
        server.server_close()
