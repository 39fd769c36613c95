"""options: Mistral's option names and defaults, ExecutorConfig's fields, the sample file."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from oslo_config import cfg

from executor import ExecutorConfig
from executor.service import options

ROOT = Path(__file__).resolve().parents[2]


def conf_from(tmp_path: Path, text: str) -> cfg.ConfigOpts:
    path = tmp_path / "mistral.conf"
    path.write_text(text)
    conf = cfg.ConfigOpts()
    options.register_opts(conf)
    conf(["--config-file", str(path)], default_config_files=[])
    return conf


def test_mistral_option_names_have_mistrals_defaults(tmp_path):
    conf = conf_from(tmp_path, "")
    assert conf.executor.host == "0.0.0.0"
    assert conf.executor.topic == "mistral_executor"
    assert conf.engine.topic == "mistral_engine"
    assert conf.action_heartbeat.check_interval == 20
    assert conf.action_heartbeat.max_missed_heartbeats == 15
    assert conf.action_heartbeat.first_heartbeat_timeout == 3600
    assert conf.control_exchange == "openstack"
    assert conf.rpc_response_timeout == 60


def test_a_mistral_conf_is_read_for_the_options_both_share(tmp_path):
    conf = conf_from(
        tmp_path,
        "[DEFAULT]\ntransport_url = rabbit://u:p@mq:5672/\n"
        "[executor]\nhost = node-7\ntype = remote\n"
        "[engine]\ntopic = eng\nhost = 0.0.0.0\n"
        "[action_heartbeat]\ncheck_interval = 5\n"
        "[api]\nport = 8989\n",
    )
    assert conf.transport_url == "rabbit://u:p@mq:5672/"
    assert conf.executor.host == "node-7"
    assert conf.engine.topic == "eng"
    assert conf.action_heartbeat.check_interval == 5


def test_every_executor_config_field_has_an_option():
    names = {opt.dest for opt in options.action_executor_opts}
    fields = {f.name for f in dataclasses.fields(ExecutorConfig)}
    assert fields - names == set()


def test_unset_options_keep_executor_config_defaults(tmp_path):
    conf = conf_from(tmp_path, "")
    built = options.executor_config(conf)
    # Hosts load the service's own configuration files unless told otherwise.
    default = dataclasses.replace(ExecutorConfig(), host_config_files=tuple(conf.config_file))
    assert built == default


def test_executor_options_reach_executor_config(tmp_path):
    conf = conf_from(
        tmp_path,
        "[action_executor]\nstate_dir = /srv/mah\nlauncher = spawn\nmax_concurrency = 3\n"
        "queue_size = 7\ndefault_timeout = 12.5\nlimits = open_files:64,cpu_seconds:30\n"
        "extra_paths = /a,/b\n",
    )
    built = options.executor_config(conf)
    assert (built.state_dir, built.launcher, built.max_concurrency) == ("/srv/mah", "spawn", 3)
    assert (built.queue_size, built.default_timeout) == (7, 12.5)
    assert built.limits == {"open_files": 64, "cpu_seconds": 30}
    assert built.extra_paths == ("/a", "/b")
    assert built.host_config_files == (str(tmp_path / "mistral.conf"),)


def test_an_unknown_limit_is_refused_with_the_known_names(tmp_path):
    conf = conf_from(tmp_path, "[action_executor]\nlimits = open_fils:64\n")
    with pytest.raises(ValueError, match="unknown limit 'open_fils'.*open_files"):
        options.executor_config(conf)


def test_a_zero_check_interval_disables_heartbeats_as_in_mistral(tmp_path):
    conf = conf_from(tmp_path, "[action_heartbeat]\ncheck_interval = 0\n")
    settings = options.ServiceSettings.from_conf(conf, options.executor_config(conf))
    assert settings.heartbeat_interval == 0


def test_the_journal_is_per_host_under_the_state_dir(tmp_path):
    conf = conf_from(tmp_path, "[executor]\nhost = node-1\n[action_executor]\nstate_dir = /s\n")
    settings = options.ServiceSettings.from_conf(conf, options.executor_config(conf))
    assert settings.journal_file == "/s/mistral-service/journal-node-1.sqlite"


def test_the_checked_in_sample_config_matches_the_options(tmp_path):
    out = tmp_path / "sample.conf"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "oslo-config-generator"),
            "--config-file",
            str(ROOT / "etc/oslo-config-generator/mistral-action-host.conf"),
            "--output-file",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    checked_in = (ROOT / "etc/mistral-action-host.conf.sample").read_text()
    assert out.read_text() == checked_in, (
        "etc/mistral-action-host.conf.sample is out of date; regenerate it with: "
        "oslo-config-generator --config-file etc/oslo-config-generator/mistral-action-host.conf"
    )
