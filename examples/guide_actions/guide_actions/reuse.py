from actions_api import Action, utils


class DoubleEcho(Action):
    """Run std.echo twice through the executor, as the calling user."""

    def __init__(self, text):
        self.text = text

    def run(self, context):
        first = utils.run_action("std.echo", output=self.text)
        second = utils.get_action("std.echo", output=first.data * 2).run()
        return second.data


class CheckThenEcho(Action):
    """Fail with the inner action's error when a check fails."""

    def __init__(self, fail):
        self.fail = fail

    def run(self, context):
        if self.fail:
            # raise_on_error=True turns the inner error Result into ActionException
            utils.get_action("std.fail", error_data="check failed").run(raise_on_error=True)
        return utils.run_action("std.echo", output="checked").data
