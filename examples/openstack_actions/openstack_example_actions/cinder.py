"""Cinder (block storage) actions."""

from __future__ import annotations

from typing import Any

from actions_api import Action, ActionContext

from ._http import call

CINDER = ("block-storage", "volumev3")


class VolumesCreate(Action):
    """Create a volume of ``size`` GiB."""

    def __init__(self, size: int, name: str | None = None):
        self.size = size
        self.name = name

    def run(self, context: ActionContext) -> Any:
        body = {"volume": {"size": self.size, "name": self.name}}
        return call(context, CINDER, "POST", "/volumes", body)["volume"]


class VolumesGet(Action):
    """Get one volume by id."""

    def __init__(self, volume: str):
        self.volume = volume

    def run(self, context: ActionContext) -> Any:
        return call(context, CINDER, "GET", f"/volumes/{self.volume}")["volume"]
