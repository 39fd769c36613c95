"""Which process is the template, and is a pid it names really its child.

The template runs plugin code and says which pid it forked: the executor
moves that pid into a cgroup and kills it later, so it must be the
template's child, never a process it names to harm (the executor itself, a
database). The answer comes from the kernel's process tree, never from the
template.
"""

from __future__ import annotations

import os

from executor.hosts.fork.errors import TemplateGone


class Parentage:
    """The template as its launcher's process tree shows it.

    A confined template (its own user namespace) is the one child of its
    launcher, which waits for it; otherwise the launcher execs the template
    in place and is the template.
    """

    def __init__(self, launcher_pid: int, confined: bool) -> None:
        self.launcher_pid = launcher_pid
        self.confined = confined
        self._template_pid: int | None = None

    def template_pid(self) -> int | None:
        """The template's pid as the executor finds it (not as it says)."""
        if not self.confined:
            return self.launcher_pid
        if self._template_pid is None:
            launcher = self.launcher_pid
            try:
                with open(f"/proc/{launcher}/task/{launcher}/children") as f:
                    children = f.read().split()
            except OSError:
                return None
            if len(children) != 1:
                return None
            self._template_pid = int(children[0])
        return self._template_pid

    def verified_child(self, pid: int) -> int:
        """A pidfd of ``pid``, once it is proven the template's own child: the
        pidfd then pins the process, whatever happens to the number."""
        template = self.template_pid()
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:
            raise TemplateGone(f"its child {pid} does not exist: {exc}") from None
        try:
            with open(f"/proc/{pid}/status") as f:
                ppid = next((line.split()[1] for line in f if line.startswith("PPid:")), "")
        except OSError:
            ppid = ""
        if template is None or ppid != str(template):
            os.close(pidfd)
            raise TemplateGone(
                f"the template said it forked pid {pid}, which is not its child "
                f"(parent {ppid or '?'}, the template is {template}): it is replaced"
            )
        return pidfd
