"""``action-executor sandbox check`` and the ``[sandbox]`` options of the service.

The check runs the real probe. This machine's tests run as root, where every
mechanism is available; the runs that need unavailable mechanisms happen in a
user namespace (``unshare --user --map-root-user``): uid 0 there cannot switch
to a dedicated uid (no ``identity``, so no ``process_limit``) nor load BPF
programs (no ``network_egress``), while namespaces, seccomp and Landlock still work.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest
from helpers import venv_bin
from oslo_config import cfg

from executor.sandbox.model import MECHANISMS, SandboxPolicy
from executor.service import options

#: Mechanisms a user namespace's root lacks (see the module doc).
NOT_IN_A_USER_NAMESPACE = {"identity", "process_limit", "network_egress"}


def _userns_works() -> bool:
    try:
        cmd = ["unshare", "--user", "--map-root-user", "true"]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_userns = pytest.mark.skipif(not _userns_works(), reason="no user namespaces here")


def check(*args: str, userns: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [venv_bin("action-executor"), "sandbox", "check", *args]
    if userns:
        cmd = ["unshare", "--user", "--map-root-user", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def rows(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {row["mechanism"]: row for row in json.loads(proc.stdout)}


def write_conf(tmp_path: Path, text: str) -> str:
    path = tmp_path / "service.conf"
    path.write_text(text)
    return str(path)


# -- sandbox check --------------------------------------------------------------


def test_check_prints_a_table_of_every_mechanism_and_exits_0():
    proc = check()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "MECHANISM",
        "AVAILABLE",
        "ENFORCED_BY_DEFAULT",
        "REQUIRED",
        "REASON",
    ]
    assert [line.split()[0] for line in lines[1:]] == list(MECHANISMS)


def test_check_reports_what_the_probe_finds_and_what_the_default_policy_enforces():
    probed = json.loads(
        subprocess.run(
            [venv_bin("python"), "-m", "executor.sandbox.probe"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    )
    proc = check("-f", "json")
    assert proc.returncode == 0, proc.stderr
    found = rows(proc)
    assert {name: row["available"] for name, row in found.items()} == {
        name: available for name, (available, _detail) in probed.items()
    }
    # The default policy: everything but the 'none' network (its default is egress).
    enforced = {name for name, row in found.items() if row["enforced_by_default"]}
    assert enforced == set(MECHANISMS) - {"network_none"}
    assert not any(row["required"] for row in found.values())


def test_value_format_prints_only_the_chosen_columns():
    proc = check("-f", "value", "-c", "mechanism", "-c", "enforced_by_default")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:2] == ["identity yes", "filesystem yes"]
    assert "network_none no" in proc.stdout.splitlines()


@needs_userns
def test_an_unavailable_mechanism_shows_its_reason_and_only_warns_when_not_required():
    proc = check("-f", "json", userns=True)
    assert proc.returncode == 0, proc.stderr
    found = rows(proc)
    missing = {name for name, row in found.items() if not row["available"]}
    assert missing == NOT_IN_A_USER_NAMESPACE
    assert "RLIMIT_NPROC does nothing for root" in str(found["process_limit"]["reason"])
    assert "bpf" in str(found["network_egress"]["reason"])
    assert all(row["reason"] == "" for name, row in found.items() if name not in missing)
    assert "note: without identity, actions run as the executor's own user" in proc.stderr


@needs_userns
def test_a_required_mechanism_that_is_unavailable_exits_1_and_names_it():
    proc = check("--require", "identity", userns=True)
    assert proc.returncode == 1
    assert "the default policy requires identity, unavailable here" in proc.stderr
    identity = next(line for line in proc.stdout.splitlines() if line.startswith("identity"))
    assert identity.split()[:4] == ["identity", "no", "yes", "yes"]


def test_a_required_mechanism_that_is_available_exits_0():
    proc = check("--require", "seccomp", "--require", "filesystem", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert {n for n, row in rows(proc).items() if row["required"]} == {"seccomp", "filesystem"}


@needs_userns
def test_the_service_configuration_says_what_is_required(tmp_path):
    conf = write_conf(tmp_path, "[sandbox]\nrequired = identity,seccomp\n")
    proc = check("--config-file", conf, userns=True)
    assert proc.returncode == 1
    assert "requires identity, unavailable here" in proc.stderr
    assert "seccomp" not in proc.stderr.split("requires")[1]  # available: not refused


@needs_userns
def test_an_environment_whose_policy_needs_a_missing_required_mechanism_exits_1(tmp_path):
    # The default policy asks for no egress (network=host); environment web does.
    conf = write_conf(
        tmp_path,
        "[action_executor]\nsandbox_by_env = web:egress\n"
        "[sandbox]\nnetwork = host\nrequired = network_egress\n",
    )
    proc = check("--config-file", conf, "-f", "json", userns=True)
    assert proc.returncode == 1
    assert "environment web requires network_egress" in proc.stderr
    assert "default policy" not in proc.stderr
    assert rows(proc)["network_egress"]["enforced_by_default"] is False


@needs_userns
def test_with_the_sandbox_off_nothing_is_enforced_nor_refused(tmp_path):
    conf = write_conf(
        tmp_path, "[action_executor]\nsandbox = false\n[sandbox]\nrequired = identity\n"
    )
    proc = check("--config-file", conf, "-f", "json", userns=True)
    assert proc.returncode == 0, proc.stderr
    assert not any(row["enforced_by_default"] for row in rows(proc).values())
    assert "the sandbox is off in this configuration" in proc.stderr


def test_a_bad_configuration_file_exits_2_and_says_what_is_wrong(tmp_path):
    conf = write_conf(tmp_path, "[sandbox]\nrequired = idendity\n")
    proc = check("--config-file", conf)
    assert proc.returncode == 2
    assert "bad configuration" in proc.stderr and "idendity" in proc.stderr
    assert proc.stdout == ""


def test_an_unknown_mechanism_for_require_is_refused_by_the_parser():
    proc = check("--require", "seccmp")
    assert proc.returncode == 2
    assert "invalid choice: 'seccmp'" in proc.stderr


# -- the [sandbox] options -------------------------------------------------------


def conf_from(tmp_path: Path, text: str) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    options.register_opts(conf)
    conf(["--config-file", write_conf(tmp_path, text)], default_config_files=[])
    return conf


def test_every_sandbox_policy_field_has_an_option_with_the_policys_default(tmp_path):
    by_name = {opt.dest: opt for opt in options.sandbox_opts}
    as_options = {"enabled": ["sandbox"], "uid_range": ["uid_range_first", "uid_range_count"]}
    for field in dataclasses.fields(SandboxPolicy):
        names = as_options.get(field.name, [field.name])
        assert all(n in by_name or n == "sandbox" for n in names), field.name
    assert options.executor_config(conf_from(tmp_path, "")).sandbox == SandboxPolicy()


def test_sandbox_options_reach_the_policy(tmp_path):
    conf = conf_from(
        tmp_path,
        "[sandbox]\nnetwork = none\nprivate_filesystem = false\npid_namespace = false\n"
        "tmpfs_size = 1048576\nmax_processes = 64\nuid_range_first = 300000\n"
        "uid_range_count = 10\nseccomp = false\nlandlock = false\n"
        "required = seccomp,landlock\n",
    )
    assert options.executor_config(conf).sandbox == SandboxPolicy(
        enabled=True,
        network="none",
        private_filesystem=False,
        pid_namespace=False,
        tmpfs_size=1048576,
        max_processes=64,
        uid_range=(300000, 10),
        seccomp=False,
        landlock=False,
        required=("seccomp", "landlock"),
    )


def test_sandbox_by_env_gives_an_environment_another_network_or_no_sandbox(tmp_path):
    conf = conf_from(
        tmp_path,
        "[action_executor]\nsandbox_by_env = offline:none,legacy:off\n"
        "[sandbox]\nmax_processes = 9\n",
    )
    config = options.executor_config(conf)
    assert config.sandbox_for("offline") == SandboxPolicy(network="none", max_processes=9)
    assert config.sandbox_for("legacy") == SandboxPolicy(enabled=False, max_processes=9)
    assert config.sandbox_for("other") == SandboxPolicy(max_processes=9)


def test_an_unknown_sandbox_by_env_policy_is_refused_with_the_choices(tmp_path):
    conf = conf_from(tmp_path, "[action_executor]\nsandbox_by_env = web:egres\n")
    with pytest.raises(ValueError, match=r"web:egres is not a sandbox policy.*none, egress, host"):
        options.executor_config(conf)
