"""options: Mistral's option names and defaults, ExecutorConfig's fields, the sample file."""

from __future__ import annotations

import dataclasses
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from oslo_config import cfg

from executor import ExecutorConfig
from executor.config import field_doc
from executor.service import options, server, settings

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
    # action_config is built from [action_executor] action_config_groups
    assert fields - names == {"action_config"}


def test_every_executor_config_field_is_documented():
    undocumented = [f.name for f in dataclasses.fields(ExecutorConfig) if not f.metadata.get("doc")]
    assert undocumented == []


# [action_executor] options that build a field rather than set it
BUILT = {"state_dir", "sandbox", "sandbox_by_env", "action_config_groups"}


def test_an_option_that_sets_a_field_has_its_default_and_its_documentation():
    defaults = ExecutorConfig()
    for opt in options.action_executor_opts:
        if opt.dest in BUILT:
            continue
        default = getattr(defaults, opt.dest)
        if isinstance(default, dict):
            default = {k: str(v) for k, v in default.items()}
        assert opt.default == (list(default) if isinstance(default, tuple) else default), opt.dest
        assert opt.help.startswith(field_doc(ExecutorConfig, opt.dest)), opt.dest


def test_the_options_that_build_a_field_start_from_its_defaults():
    by_name = {opt.dest: opt for opt in options.action_executor_opts}
    assert by_name["state_dir"].default is None  # found when the service starts
    assert by_name["sandbox"].default == ExecutorConfig().sandbox.enabled
    assert by_name["sandbox_by_env"].default == {}
    assert by_name["sandbox_by_env"].help.startswith(field_doc(ExecutorConfig, "sandbox_by_env"))


def test_unset_options_keep_executor_config_defaults(tmp_path):
    conf = conf_from(tmp_path, "")
    built = settings.executor_config(conf)
    # The service's own configuration file is hidden from every host.
    default = dataclasses.replace(ExecutorConfig(), hidden_paths=tuple(conf.config_file))
    assert built == default


def test_executor_options_reach_executor_config(tmp_path):
    conf = conf_from(
        tmp_path,
        "[action_executor]\nstate_dir = /srv/mah\nlauncher = spawn\nmax_concurrency = 3\n"
        "queue_size = 7\ndefault_timeout = 12.5\nlimits = open_files:64,cpu_seconds:30\n"
        "extra_paths = /a,/b\n",
    )
    built = settings.executor_config(conf)
    assert (built.state_dir, built.launcher, built.max_concurrency) == ("/srv/mah", "spawn", 3)
    assert (built.queue_size, built.default_timeout) == (7, 12.5)
    assert built.limits == {"open_files": 64, "cpu_seconds": 30}
    assert built.extra_paths == ("/a", "/b")


def test_an_unknown_limit_is_refused_with_the_known_names(tmp_path):
    conf = conf_from(tmp_path, "[action_executor]\nlimits = open_fils:64\n")
    with pytest.raises(ValueError, match="unknown limit 'open_fils'.*open_files"):
        settings.executor_config(conf)


def test_a_zero_check_interval_disables_heartbeats_as_in_mistral(tmp_path):
    conf = conf_from(tmp_path, "[action_heartbeat]\ncheck_interval = 0\n")
    service = settings.ServiceSettings.from_conf(conf, settings.executor_config(conf))
    assert service.heartbeat_interval == 0


def test_the_journal_is_per_host_under_the_state_dir(tmp_path):
    conf = conf_from(tmp_path, "[executor]\nhost = node-1\n[action_executor]\nstate_dir = /s\n")
    service = settings.ServiceSettings.from_conf(conf, settings.executor_config(conf))
    assert service.journal_file == "/s/mistral-service/journal-node-1.sqlite"


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


# -- what hosts get of the service's configuration -------------------------------

SERVICE_CONF = (
    "[DEFAULT]\ntransport_url = rabbit://mq:SECRETMQPASS@mq:5672/\n"
    "[database]\nconnection = postgresql://u:SECRETDBPASS@db/mistral\n"
    "[keystone_authtoken]\npassword = SECRETKSPASS\n"
    "[action_std_http]\ndefault_timeout = 7\ndenied_cidrs = 10.0.0.0/8,\n"
    "[my_plugin]\nurl = https://example.com/\ntoken = PLUGINTOKEN\n"
)


def test_hosts_get_no_config_file_of_the_service(tmp_path):
    built = settings.executor_config(conf_from(tmp_path, SERVICE_CONF))
    assert built.host_config_files == ()


def test_hosts_get_only_the_action_config_groups(tmp_path):
    built = settings.executor_config(conf_from(tmp_path, SERVICE_CONF))
    sections = parsed(tmp_path, built.action_config)
    assert sections == {
        "action_std_http": {"default_timeout": ["7"], "denied_cidrs": ["10.0.0.0/8,"]}
    }
    for secret in ("SECRETMQPASS", "SECRETDBPASS", "SECRETKSPASS", "PLUGINTOKEN"):
        assert secret not in built.action_config


def test_action_config_groups_names_the_groups_hosts_get(tmp_path):
    text = SERVICE_CONF + "[action_executor]\naction_config_groups = my_plugin,absent\n"
    built = settings.executor_config(conf_from(tmp_path, text))
    assert parsed(tmp_path, built.action_config) == {
        "my_plugin": {"url": ["https://example.com/"], "token": ["PLUGINTOKEN"]}
    }


def test_an_option_the_service_registered_as_secret_is_left_out(tmp_path):
    conf = conf_from(
        tmp_path, SERVICE_CONF + "[action_executor]\naction_config_groups = my_plugin\n"
    )
    conf.register_opts([cfg.StrOpt("token", secret=True), cfg.StrOpt("url")], group="my_plugin")
    built = settings.executor_config(conf)
    assert parsed(tmp_path, built.action_config) == {"my_plugin": {"url": ["https://example.com/"]}}


@pytest.mark.parametrize(
    "group",
    [
        "DEFAULT",
        "database",
        "keystone_authtoken",
        "oslo_messaging_rabbit",
        "oslo_messaging_notifications",
        "action_executor",
        "action_executor_service",
        "sandbox",
        "executor",
        "engine",
        "Database",
    ],
)
def test_a_group_of_the_services_own_settings_is_refused(tmp_path, group):
    conf = conf_from(
        tmp_path, f"[action_executor]\naction_config_groups = action_std_http,{group}\n"
    )
    with pytest.raises(
        ValueError, match=rf"action_config_groups: '{group}' holds the service's own"
    ):
        settings.executor_config(conf)


def test_later_files_and_config_dirs_override_earlier_ones(tmp_path):
    first = tmp_path / "first.conf"
    first.write_text("[action_std_http]\ndefault_timeout = 1\nallowed_hosts = a.example\n")
    second = tmp_path / "second.conf"
    second.write_text("[action_std_http]\ndefault_timeout = 2\n")
    confd = tmp_path / "conf.d"
    confd.mkdir()
    (confd / "10-a.conf").write_text("[action_std_http]\nmax_response_size_bytes = 10\n")
    (confd / "20-b.conf").write_text("[action_std_http]\nmax_response_size_bytes = 20\n")
    conf = cfg.ConfigOpts()
    options.register_opts(conf)
    argv = ["--config-file", str(first), "--config-file", str(second), "--config-dir", str(confd)]
    conf(argv, default_config_files=[])
    built = settings.executor_config(conf)
    assert parsed(tmp_path, built.action_config) == {
        "action_std_http": {
            "default_timeout": ["2"],
            "allowed_hosts": ["a.example"],
            "max_response_size_bytes": ["20"],
        }
    }
    assert set(built.hidden_paths) == {
        str(first),
        str(second),
        str(confd),
        str(confd / "10-a.conf"),
        str(confd / "20-b.conf"),
    }


def test_values_are_written_so_that_oslo_config_reads_them_back_as_they_were(tmp_path):
    text = (
        '[action_std_http]\nquoted = "  spaced  "\nmulti = one\n  two\nrepeated = 1\n'
        "repeated = 2\nempty =\npercent = 50%\ndollar = $HOME\n"
    )
    built = settings.executor_config(conf_from(tmp_path, text))
    assert parsed(tmp_path, built.action_config) == {
        "action_std_http": {
            "quoted": ["  spaced  "],
            "multi": ["one\ntwo"],
            "repeated": ["1", "2"],
            "empty": [""],
            "percent": ["50%"],
            "dollar": ["$HOME"],
        }
    }


def test_the_hidden_paths_option_adds_to_the_services_own_files(tmp_path):
    built = settings.executor_config(
        conf_from(tmp_path, "[action_executor]\nhidden_paths = /etc/mistral,/srv/creds\n")
    )
    assert built.hidden_paths == ("/etc/mistral", "/srv/creds", str(tmp_path / "mistral.conf"))


def parsed(tmp_path: Path, text: str) -> dict:
    """``text`` as oslo.config's parser reads it: {group: {option: [values]}}."""
    path = tmp_path / "parsed.conf"
    path.write_text(text)
    sections: dict = {}
    cfg.ConfigParser(str(path), sections).parse()
    return sections


def test_the_action_config_file_comes_first_in_the_hosts_config_files(tmp_path):
    config = ExecutorConfig(
        state_dir=str(tmp_path), action_config="[action_std_http]\ndefault_timeout = 7\n"
    )
    config.host_config_files = ("/srv/for-actions.conf",)
    given = server.with_action_config(config, "node 1")
    path = tmp_path / "service" / "action-config-node_1.conf"
    assert given.host_config_files == (str(path), "/srv/for-actions.conf")
    assert path.read_text() == config.action_config
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_with_nothing_for_actions_hosts_get_no_file_and_an_old_one_goes(tmp_path):
    old = tmp_path / "service" / "action-config-node-1.conf"
    old.parent.mkdir()
    old.write_text("[action_std_http]\ndefault_timeout = 7\n")
    given = server.with_action_config(ExecutorConfig(state_dir=str(tmp_path)), "node-1")
    assert given.host_config_files == ()
    assert not old.exists()
