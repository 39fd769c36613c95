"""Nova (compute) actions."""

from __future__ import annotations

from typing import Any

from actions_api import Action, ActionContext

from ._http import call


class ServersGet(Action):
    """Get one server by id."""

    def __init__(self, server: str):
        self.server = server

    def run(self, context: ActionContext) -> Any:
        return call(context, "compute", "GET", f"/servers/{self.server}")["server"]


class ServersList(Action):
    """List the project's servers with details."""

    def run(self, context: ActionContext) -> Any:
        return call(context, "compute", "GET", "/servers/detail")["servers"]


class VolumeAttach(Action):
    """Attach a volume to a server."""

    def __init__(self, server: str, volume: str, device: str | None = None):
        self.server = server
        self.volume = volume
        self.device = device

    def run(self, context: ActionContext) -> Any:
        attachment: dict[str, Any] = {"volumeId": self.volume}
        if self.device:
            attachment["device"] = self.device
        body = {"volumeAttachment": attachment}
        path = f"/servers/{self.server}/os-volume_attachments"
        return call(context, "compute", "POST", path, body)["volumeAttachment"]
