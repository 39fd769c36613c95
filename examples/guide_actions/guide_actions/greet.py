from actions_api import Action, ActionException, Result


class Greet(Action):
    """Greet someone; refuse empty names."""

    def __init__(self, name, punctuation="!"):
        self.name = name
        self.punctuation = punctuation

    def run(self, context):
        if not self.name:
            raise ActionException("name must not be empty")
        if self.name == "nobody":
            return Result(error={"reason": "nobody to greet"})
        return f"Hello {self.name}{self.punctuation}"

    def test(self, context):
        return f"would greet {self.name}"
