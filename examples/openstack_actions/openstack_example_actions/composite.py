"""The Custom Actions API spec's composite action, built by reusing actions."""

from __future__ import annotations

import time
from typing import Any

from actions_api import Action, ActionContext, ActionException, utils


class CreateVolumeAndAttach(Action):
    """Create a Cinder volume and attach it to a server, as the calling user."""

    def __init__(self, server: str, size: int, name: str | None = None, wait: float = 30):
        self.server = server
        self.size = size
        self.name = name
        self.wait = wait

    def run(self, context: ActionContext) -> Any:
        # Each step runs in its own sandboxed host, with this action's caller's token.
        utils.get_action("example.nova.servers_get", server=self.server).run(raise_on_error=True)
        volume = utils.run_action("example.cinder.volumes_create", size=self.size, name=self.name)
        if volume.is_error():
            raise ActionException(f"could not create the volume: {volume.error}")
        volume_id = volume.data["id"]
        deadline = time.monotonic() + self.wait
        while True:
            status = utils.get_action("example.cinder.volumes_get", volume=volume_id).run(
                raise_on_error=True
            )
            if status.data["status"] == "available":
                break
            if status.data["status"] == "error" or time.monotonic() > deadline:
                raise ActionException(f"volume {volume_id} is {status.data['status']}")
            time.sleep(0.2)
        attachment = utils.get_action(
            "example.nova.volume_attach", server=self.server, volume=volume_id
        ).run(raise_on_error=True)
        return {"volume": volume_id, "attachment": attachment.data}
