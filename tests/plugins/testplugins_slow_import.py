"""A plugin whose import takes seconds: its template starts slowly."""

import time

from actions_api import Action

time.sleep(3)


class QuickAction(Action):
    def run(self, context):
        return "quick"
