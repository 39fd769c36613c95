"""Commands and files taken from the docs' Markdown, for the tests that follow
a page word for word (docs/tutorial.md, docs/deploy-mistral.md).

In a ``console`` block a line that starts with ``$ `` is a command; the lines
after it are output it must print, where ``...`` stands for any text (alone
on a line: any lines), and ``# exit code N`` after a command is the exit code
it must have (0 when not said). Runs of spaces compare equal to one space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)
EXIT = re.compile(r"#\s*exit code (\d+)")


@dataclass
class Command:
    line: str
    exit_code: int = 0
    expected: list[str] = field(default_factory=list)


def console_commands(body: str) -> list[Command]:
    """A ``console`` block's commands with the output each must print."""
    found: list[Command] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            code = EXIT.search(line)
            found.append(Command(line[2:], int(code[1]) if code else 0))
        elif found and line.strip() != "...":
            found[-1].expected.append(line)
    return found


def pattern(expected: str) -> re.Pattern[str]:
    text = re.sub(r"\s+", " ", expected.strip())
    return re.compile(".*".join(re.escape(part) for part in text.split("...")))


def normalised(text: str) -> list[str]:
    return [re.sub(r"\s+", " ", line.strip()) for line in text.splitlines()]


def missing_lines(command: Command, output: str) -> list[str]:
    """The expected lines ``output`` does not show (each matches a whole line)."""
    actual = normalised(output)
    return [
        line for line in command.expected if not any(pattern(line).fullmatch(a) for a in actual)
    ]
