"""``action-executor sandbox check`` and the ``[sandbox]`` options of the service.

The check runs the real probe. As root (this machine and CI) every mechanism
is available. What is missing without root is checked as a real unprivileged
user (``deployments.run_as``: a system user of its own, no groups, no
capabilities, running a world-readable install of this checkout): it has no
other id to give an action (no ``identity``) and may not load BPF programs
(no ``network_egress``), so the default policy cannot be enforced and the
check says which option lowers it.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest
from deployments import (
    readable_file,
    run_as,
    world_readable_install,
)
from helpers import venv_bin
from oslo_config import cfg

from executor.sandbox.model import MECHANISMS, SandboxPolicy
from executor.sandbox.policy import CONSEQUENCES, wanted
from executor.service import options, settings

#: The unprivileged user the check runs as.
USER = "mah-cli-test"

#: The [sandbox] lines that lower the policy when a mechanism is missing.
LOWER = {
    "identity": "per_action_uid = false\n",
    "filesystem": "private_filesystem = false\n",
    "pid_namespace": "pid_namespace = false\n",
    "limits": "memory_limit = 0\nmax_processes = 0\ncpu_weight = 0\n",
    "network_egress": "network = none\n",
    "seccomp": "seccomp = false\n",
    "landlock": "landlock = false\n",
}


def check(*args: str) -> subprocess.CompletedProcess[str]:
    """The check as this test process's user (root)."""
    cmd = [venv_bin("action-executor"), "sandbox", "check", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def check_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """The check as ``USER``, with no capabilities."""
    executable = world_readable_install() / "bin" / "action-executor"
    return run_as(USER, [str(executable), "sandbox", "check", *args])


def rows(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    assert proc.stdout, f"no output; stderr: {proc.stderr}"
    return {row["mechanism"]: row for row in json.loads(proc.stdout)}


def write_conf(tmp_path: Path, text: str) -> str:
    path = tmp_path / "service.conf"
    path.write_text(text)
    return str(path)


def readable_conf(sandbox: str, action_executor: str = "") -> str:
    """A service configuration ``USER`` can read."""
    text = f"[action_executor]\n{action_executor}[sandbox]\n{sandbox}"
    return str(readable_file("service.conf", text))


@pytest.fixture(scope="module")
def unprivileged() -> dict[str, dict[str, object]]:
    """What the check finds for ``USER`` with the default configuration (by mechanism)."""
    proc = check_unprivileged("-f", "json")
    found = rows(proc)
    assert found["user_namespace"]["available"], (
        f"{USER} cannot start a user namespace, so nothing of the sandbox can be checked "
        f"as an unprivileged user here: {found['user_namespace']['reason']}"
    )
    return found


@pytest.fixture(scope="module")
def lowered(unprivileged: dict[str, dict[str, object]]) -> str:
    """The [sandbox] lines lowering the default policy by exactly what ``USER`` lacks."""
    missing = [m for m in wanted(SandboxPolicy()) if not unprivileged[m]["available"]]
    assert set(missing) <= set(LOWER), f"nothing lowers {set(missing) - set(LOWER)}"
    assert "network_egress" not in missing or unprivileged["network_none"]["available"], (
        "network_egress is missing and so is network_none, which lowers it here"
    )
    return "".join(LOWER[m] for m in missing)


# -- as root: every mechanism is available ---------------------------------------


def test_the_table_has_a_row_per_mechanism_under_four_columns():
    proc = check()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["MECHANISM", "AVAILABLE", "ENFORCED_BY_DEFAULT", "REASON"]
    assert [line.split()[0] for line in lines[1:]] == list(MECHANISMS)


def test_available_is_what_the_probe_finds():
    probed = json.loads(
        subprocess.run(
            [venv_bin("python"), "-m", "executor.sandbox.probe"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    )
    found = rows(check("-f", "json"))
    assert {name: row["available"] for name, row in found.items()} == {
        name: available for name, (available, _detail) in probed.items()
    }
    assert all(row["reason"] == "" for row in found.values() if row["available"])


def test_the_default_policy_enforces_every_mechanism_but_the_none_network():
    found = rows(check("-f", "json"))
    enforced = {name for name, row in found.items() if row["enforced_by_default"]}
    assert enforced == set(MECHANISMS) - {"network_none"}


def test_where_everything_is_available_the_default_policy_exits_0_and_refuses_nothing():
    proc = check()
    assert proc.returncode == 0
    assert proc.stderr == ""


def test_value_format_prints_only_the_chosen_columns():
    proc = check("-f", "value", "-c", "mechanism", "-c", "enforced_by_default")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["user_namespace yes", "identity yes"]
    assert "network_none no" in lines


def test_columns_may_be_named_as_the_table_header_prints_them():
    proc = check("-f", "value", "-c", "MECHANISM", "-c", "Available")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "user_namespace yes"


def test_the_probe_runs_for_the_configured_uid_range(tmp_path):
    # A block reaching beyond 2**32 - 2 (the last id) exists nowhere: even root gets none,
    # so identity is missing and the default policy cannot be enforced.
    conf = write_conf(tmp_path, "[sandbox]\nuid_range_first = 4294967000\n")
    proc = check("--config-file", conf, "-f", "json")
    assert proc.returncode == 1
    assert rows(proc)["identity"]["available"] is False
    assert "identity: " in proc.stderr and "[sandbox] per_action_uid = false" in proc.stderr


def test_require_of_an_available_mechanism_no_policy_asks_for_exits_0():
    proc = check("--require", "network_none", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert rows(proc)["network_none"]["enforced_by_default"] is False


def test_with_the_sandbox_off_nothing_is_enforced_and_a_note_says_what_is_given_away(tmp_path):
    conf = write_conf(tmp_path, "[action_executor]\nsandbox = false\n")
    proc = check("--config-file", conf, "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert not any(row["enforced_by_default"] for row in rows(proc).values())
    assert "note: the default policy: the sandbox is OFF ([action_executor] sandbox = false)" in (
        proc.stderr
    )
    for given_away in ("run as the executor's user (uid 0 here)", "every service of this host"):
        assert given_away in proc.stderr
    found = rows(proc)
    assert found["seccomp"]["available"] and found["landlock"]["available"], found
    assert (
        "only no_new_privs, the seccomp filter and Landlock's signal and abstract-socket "
        "scopes remain" in proc.stderr
    )


def test_an_environment_with_the_sandbox_off_gets_the_note_under_its_name(tmp_path):
    conf = write_conf(tmp_path, "[action_executor]\nsandbox_by_env = legacy:off\n")
    proc = check("--config-file", conf)
    assert proc.returncode == 0, proc.stderr
    assert "note: environment legacy: the sandbox is OFF" in proc.stderr
    assert "the default policy: the sandbox is OFF" not in proc.stderr


def test_a_bad_configuration_file_exits_2_and_says_what_is_wrong(tmp_path):
    conf = write_conf(tmp_path, "[sandbox]\nnetwork = egres\n")
    proc = check("--config-file", conf)
    assert proc.returncode == 2
    assert "bad configuration" in proc.stderr and "egres" in proc.stderr
    assert proc.stdout == ""


def test_a_bad_egress_network_exits_2_naming_the_option_and_the_value(tmp_path):
    conf = write_conf(tmp_path, "[sandbox]\negress_deny = 10.0.0.0/8,10.300.0.0/16\n")
    proc = check("--config-file", conf)
    assert proc.returncode == 2
    assert "[sandbox] egress_deny: '10.300.0.0/16' is not a network" in proc.stderr


def test_an_unknown_mechanism_for_require_is_refused_by_the_parser():
    proc = check("--require", "seccmp")
    assert proc.returncode == 2
    assert "invalid choice: 'seccmp'" in proc.stderr


# -- as an unprivileged user with no capabilities ---------------------------------


def test_without_capabilities_identity_is_missing_for_want_of_subordinate_ids_or_cap_setuid(
    unprivileged,
):
    identity = unprivileged["identity"]
    assert identity["available"] is False
    reason = str(identity["reason"])
    assert "subordinate ids" in reason and "CAP_SETUID" in reason


def test_without_capabilities_egress_is_missing_for_want_of_cap_bpf_and_cap_net_admin(
    unprivileged,
):
    egress = unprivileged["network_egress"]
    assert egress["available"] is False
    assert "CAP_BPF and CAP_NET_ADMIN" in str(egress["reason"])


def test_without_capabilities_the_default_policy_exits_1_naming_what_lowers_it(unprivileged):
    proc = check_unprivileged()
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("action-executor: the default policy cannot be enforced")
    missing = [m for m in wanted(SandboxPolicy()) if not unprivileged[m]["available"]]
    listed = [line[len("  - ") :] for line in lines[1:] if line.startswith("  - ")]
    assert [line.split(":", 1)[0] for line in listed] == missing
    for name, line in zip(missing, listed, strict=True):
        _weaker, how, lower = CONSEQUENCES[name]
        reason = unprivileged[name]["reason"]
        assert line == f"{name}: {reason}. To enable it: {how}. Or lower the policy: {lower}"
    assert "Or lower the policy: [sandbox] per_action_uid = false" in proc.stderr
    assert "Or lower the policy: [sandbox] network = none" in proc.stderr


def test_a_configuration_lowering_exactly_what_is_missing_exits_0(lowered):
    proc = check_unprivileged("--config-file", readable_conf(lowered))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_the_old_required_option_changes_nothing(lowered):
    # identity is unavailable here; a policy that does not ask for it starts.
    proc = check_unprivileged("--config-file", readable_conf(lowered + "required = identity\n"))
    assert proc.returncode == 0, proc.stderr
    assert "[sandbox] required is kept for old configurations and changes nothing" in proc.stderr


def test_require_fails_for_an_unavailable_mechanism_no_policy_asks_for(lowered):
    proc = check_unprivileged("--config-file", readable_conf(lowered), "--require", "identity")
    assert proc.returncode == 1
    assert proc.stderr.startswith("action-executor: --require identity: unavailable here: ")
    assert "To enable it: give the executor CAP_SETUID and CAP_SETGID" in proc.stderr
    assert "cannot be enforced" not in proc.stderr


def test_an_environment_whose_policy_cannot_be_enforced_exits_1_naming_it(lowered):
    conf = readable_conf(lowered, action_executor="sandbox_by_env = web:egress\n")
    proc = check_unprivileged("--config-file", conf, "-f", "json")
    assert proc.returncode == 1
    header = (
        "action-executor: environment web ([sandbox] with network = egress from "
        "sandbox_by_env) cannot be enforced on this machine"
    )
    assert header in proc.stderr
    assert "  - network_egress: " in proc.stderr
    assert "the default policy" not in proc.stderr
    assert rows(proc)["network_egress"]["enforced_by_default"] is False


def test_with_the_sandbox_off_a_user_without_any_mechanism_exits_0(unprivileged):
    conf = readable_conf("", action_executor="sandbox = false\n")
    proc = check_unprivileged("--config-file", conf)
    assert proc.returncode == 0, proc.stderr
    assert "the sandbox is OFF" in proc.stderr
    assert "cannot be enforced" not in proc.stderr


# -- the [sandbox] options -------------------------------------------------------


def conf_from(tmp_path: Path, text: str) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    options.register_opts(conf)
    conf(["--config-file", write_conf(tmp_path, text)], default_config_files=[])
    return conf


def test_every_sandbox_policy_field_has_an_option_with_the_policys_default(tmp_path):
    by_name = {opt.dest for opt in options.sandbox_opts}
    as_options = {"enabled": [], "uid_range": ["uid_range_first", "uid_range_count"]}
    for field in dataclasses.fields(SandboxPolicy):
        assert set(as_options.get(field.name, [field.name])) <= by_name, field.name
    assert settings.executor_config(conf_from(tmp_path, "")).sandbox == SandboxPolicy()


def test_sandbox_options_reach_the_policy(tmp_path):
    conf = conf_from(
        tmp_path,
        "[sandbox]\nnetwork = none\nprivate_filesystem = false\npid_namespace = false\n"
        "tmpfs_size = 1048576\nmax_processes = 64\nmemory_limit = 536870912\n"
        "cpu_weight = 50\ncpu_max = 1.5\nper_action_uid = false\nuid_range_first = 300000\n"
        "uid_range_count = 100\nuids_per_template = 10\n"
        "egress_deny = 10.0.0.0/8,fd00::/8\negress_allow = 192.0.2.0/24\n"
        "seccomp = false\nlandlock = false\nrequired = seccomp\n",
    )
    assert settings.executor_config(conf).sandbox == SandboxPolicy(
        enabled=True,
        network="none",
        private_filesystem=False,
        pid_namespace=False,
        tmpfs_size=1048576,
        max_processes=64,
        memory_limit=536870912,
        cpu_weight=50,
        cpu_max=1.5,
        per_action_uid=False,
        uid_range=(300000, 100),
        uids_per_template=10,
        egress_deny=("10.0.0.0/8", "fd00::/8"),
        egress_allow=("192.0.2.0/24",),
        seccomp=False,
        landlock=False,
        required=("seccomp",),
    )


def test_zero_means_no_memory_process_or_cpu_limit(tmp_path):
    conf = conf_from(
        tmp_path, "[sandbox]\nmemory_limit = 0\nmax_processes = 0\ncpu_weight = 0\ncpu_max = 0\n"
    )
    policy = settings.executor_config(conf).sandbox
    assert (policy.memory_limit, policy.max_processes, policy.cpu_weight, policy.cpu_max) == (
        None,
        None,
        None,
        None,
    )
    assert "limits" not in wanted(policy)


def test_a_bad_egress_network_is_refused_naming_the_option_and_the_value(tmp_path):
    conf = conf_from(tmp_path, "[sandbox]\negress_allow = 192.0.2.0/24,example.com\n")
    with pytest.raises(ValueError, match=r"\[sandbox\] egress_allow: 'example.com' is not"):
        settings.executor_config(conf)


def test_sandbox_by_env_gives_an_environment_another_network_or_no_sandbox(tmp_path):
    conf = conf_from(
        tmp_path,
        "[action_executor]\nsandbox_by_env = offline:none,legacy:off\n"
        "[sandbox]\nmax_processes = 9\n",
    )
    config = settings.executor_config(conf)
    assert config.sandbox_for("offline") == SandboxPolicy(network="none", max_processes=9)
    assert config.sandbox_for("legacy") == SandboxPolicy(enabled=False, max_processes=9)
    assert config.sandbox_for("other") == SandboxPolicy(max_processes=9)


def test_an_unknown_sandbox_by_env_policy_is_refused_with_the_choices(tmp_path):
    conf = conf_from(tmp_path, "[action_executor]\nsandbox_by_env = web:egres\n")
    with pytest.raises(ValueError, match=r"web:egres is not a sandbox policy.*none, egress, host"):
        settings.executor_config(conf)
