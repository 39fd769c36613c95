"""Small stand-ins for an OpenStack cloud: real HTTP servers on loopback.

Keystone v3 (token and catalog, projects), Nova, Glance, Neutron, Cinder and
Heat, each answering the requests that the example actions and mistral-extra's
clients (python-novaclient, glanceclient, ...) send, with canned JSON in the
services' own shapes (version documents, 404 bodies included). Every request
must carry the valid token in ``X-Auth-Token`` (else 401); every request is
recorded as ``(service, method, path with query, token)``.
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
USER = "u-7"
SERVICES = ("keystone", "nova", "cinder", "glance", "neutron", "heat")

#: Canned lists, in each service's own JSON shape (no URLs: results compare
#: across runs and across stand-ins on other ports).
IMAGES = [
    {
        "id": "img-1",
        "name": "cirros",
        "status": "active",
        "visibility": "public",
        "disk_format": "qcow2",
        "container_format": "bare",
        "size": 16338944,
        "tags": [],
        "self": "/v2/images/img-1",
        "file": "/v2/images/img-1/file",
        "schema": "/v2/schemas/image",
    }
]
NETWORKS = [
    {
        "id": "net-1",
        "name": "private",
        "status": "ACTIVE",
        "admin_state_up": True,
        "shared": False,
        "subnets": ["sub-1"],
        "tenant_id": PROJECT,
        "project_id": PROJECT,
    }
]
STACKS = [
    {
        "id": "st-1",
        "stack_name": "web-stack",
        "stack_status": "CREATE_COMPLETE",
        "description": "a stack",
        "creation_time": "2026-11-30T10:00:00Z",
        "links": [{"href": "/v1/stacks/web-stack/st-1", "rel": "self"}],
    }
]
IMAGE_SCHEMA = {
    "name": "image",
    "properties": {
        name: {"type": kind}
        for name, kind in (
            ("id", "string"),
            ("name", ["null", "string"]),
            ("status", "string"),
            ("visibility", "string"),
            ("disk_format", ["null", "string"]),
            ("container_format", ["null", "string"]),
            ("size", ["null", "integer"]),
            ("tags", "array"),
            ("self", "string"),
            ("file", "string"),
            ("schema", "string"),
        )
    },
    "additionalProperties": {"type": "string"},
    "links": [],
}
PROJECTS = [
    {
        "id": PROJECT,
        "name": "demo",
        "domain_id": "default",
        "enabled": True,
        "description": "",
        "is_domain": False,
        "parent_id": "default",
        "tags": [],
        "links": {"self": f"/v3/projects/{PROJECT}"},
    }
]


class Cloud:
    """Shared state of the three services, and a record of every request."""

    def __init__(self) -> None:
        self.servers: dict[str, dict[str, Any]] = {
            "vm-1": {
                "id": "vm-1",
                "name": "web",
                "status": "ACTIVE",
                "volumes": [],
                "flavor": {"original_name": "m1.small", "vcpus": 1, "ram": 2048},
                "addresses": {"private": [{"addr": "10.0.0.5", "version": 4}]},
                "metadata": {"role": "web"},
                "links": [{"rel": "self", "href": "/v2.1/servers/vm-1"}],
            }
        }
        self.volumes: dict[str, dict[str, Any]] = {
            "vol-0": {
                "id": "vol-0",
                "size": 1,
                "status": "available",
                "name": "data",
                "polls": 0,
                "attachments": [],
                "links": [{"rel": "self", "href": f"/v3/{PROJECT}/volumes/vol-0"}],
            }
        }
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

        # A Keystone v3 token body (keystonemiddleware's ``token_info``): the
        # "methods" mark it as v3 for keystoneclient's ServiceCatalog.factory.
        return {
            "token": {
                "methods": ["token"],
                "user": {"id": USER, "name": "alice", "domain": {"id": "default"}},
                "project": {"id": PROJECT, "name": "demo", "domain": {"id": "default"}},
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "roles": [{"id": "r-1", "name": "member"}],
                "catalog": [
                    entry("identity", "keystone", "/v3"),
                    entry("compute", "nova", "/v2.1"),
                    entry("block-storage", "cinder", f"/v3/{PROJECT}"),
                    entry("image", "glance", ""),
                    entry("network", "neutron", ""),
                    entry("orchestration", "heat", f"/v1/{PROJECT}"),
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
        path = path.split("?")[0]
        if service == "keystone":
            return self._keystone(method, path)
        if service == "nova":
            return self._nova(method, path.removeprefix("/v2.1"), body)
        if service == "cinder":
            return self._cinder(method, path.removeprefix(f"/v3/{PROJECT}"), body)
        if service == "glance" and method == "GET" and path == "/v2/schemas/image":
            return 200, IMAGE_SCHEMA
        if service == "glance" and method == "GET" and path == "/v2/images":
            return 200, {"images": IMAGES, "first": "/v2/images", "schema": "/v2/schemas/images"}
        if service == "neutron" and method == "GET" and path == "/v2.0/networks":
            return 200, {"networks": NETWORKS}
        if service == "heat" and method == "GET" and path == f"/v1/{PROJECT}/stacks":
            return 200, {"stacks": STACKS}
        return 404, {"error": f"no route {method} {path}"}

    def _keystone(self, method: str, path: str) -> tuple[int, Any]:
        if path == "/v3/auth/tokens" and method in ("GET", "POST"):
            return 200, self.catalog()
        if method == "GET" and path == "/v3/projects":
            links = {"self": "/v3/projects", "previous": None, "next": None}
            return 200, {"projects": PROJECTS, "links": links}
        return 404, {"error": {"code": 404, "message": f"no route {method} {path}"}}

    def _nova(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [part for part in path.strip("/").split("/") if part]
        if method == "GET" and not parts:  # the version document (microversions)
            version = {"id": "v2.1", "status": "CURRENT", "version": "2.96"}
            return 200, {"version": {**version, "min_version": "2.1", "links": []}}
        if method == "GET" and parts == ["servers", "detail"]:
            return 200, {"servers": list(self.servers.values())}
        if method == "GET" and len(parts) == 2 and parts[0] == "servers":
            server = self.servers.get(parts[1])
            if server is None:
                message = f"Instance {parts[1]} could not be found."
                return 404, {"itemNotFound": {"code": 404, "message": message}}
            return 200, {"server": server}
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
        if method == "GET" and path == "/":  # cinderclient's version discovery
            version = {"id": "v3.0", "status": "CURRENT", "version": "3.70"}
            return 200, {"versions": [{**version, "min_version": "3.0", "links": []}]}
        if method == "GET" and parts == ["volumes", "detail"]:
            return 200, {"volumes": list(self.volumes.values())}
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
            headers = {"Content-Type": "application/json"}
            issuing = service == "keystone" and method == "POST" and self.path == "/v3/auth/tokens"
            if issuing:  # token authentication: the token is in the body
                identity = json.loads(raw or b"{}").get("auth", {}).get("identity", {})
                token = identity.get("token", {}).get("id")
                headers["X-Subject-Token"] = TOKEN
            cloud.requests.append((service, method, self.path, token))
            if token != TOKEN:
                status, payload = 401, {"error": {"code": 401, "message": "invalid token"}}
            else:
                status, payload = cloud.handle(
                    service, method, self.path, json.loads(raw or b"null")
                )
            if issuing and status == 200:
                status = 201
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
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
    for service in SERVICES:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cloud, service))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        cloud.servers_http[service] = server
    return cloud


def stop_cloud(cloud: Cloud) -> None:
    for server in cloud.servers_http.values():
        server.shutdown()
        server.server_close()
