from actions_api import Action


class LegacyGreet(Action):
    """Written for the old API: run() takes no context. Still runs, with a warning."""

    def __init__(self, name):
        self.name = name

    def run(self):
        return f"Hello {self.name} (old style)"
