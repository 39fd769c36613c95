"""Context access from helper code, and secrets kept out of every output."""

import json
import os
import subprocess
import sys

from helpers import install_plugin

TOKEN = "tok-very-secret-123"
PASSWORD = "hunter2-password"


def test_current_context_reaches_helper_code_in_threads(executor):
    context = {"execution": {"workflow_execution_id": "wf-7"}}
    result = executor.run("test.context_in_thread", context=context)
    assert result.data == {"from_thread": "wf-7", "same_object": True}


def test_tokens_and_passwords_never_reach_logs_or_errors(executor):
    result = executor.run(
        "test.log_secrets",
        {"password": PASSWORD},
        context={"security": {"auth_token": TOKEN}},
    )
    assert result.is_error()
    everything = json.dumps(result.logs) + str(result.error)
    assert TOKEN not in everything
    assert PASSWORD not in everything
    assert "connecting with token *** and password ***" in result.logs
    assert "token again: ***" in result.logs
    assert result.error == "ActionException: login failed for password ***"


def test_dry_run_descriptions_mask_secret_parameters(executor):
    result = executor.run("test.log_secrets", {"password": PASSWORD}, dry_run=True)
    assert result.data["would_run_with"] == {"password": "***", "host": "db"}


def test_inspect_masks_secret_parameter_defaults(tmp_path):
    source = (
        "from actions_api import Action\n"
        "class Login(Action):\n"
        "    def __init__(self, user='admin', password='default-pass-123'):\n"
        "        pass\n"
        "    def run(self, context):\n"
        "        return None\n"
    )
    site = install_plugin(
        tmp_path, "secretive", "1.0", {"secretive": source}, {"x.login": "secretive:Login"}
    )
    out = subprocess.run(
        [sys.executable, "-m", "action_host", "--inspect"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(site)),
        check=True,
    ).stdout
    assert "default-pass-123" not in out
    assert 'user="admin", password="***"' in out


def test_secret_name_rules_agree_between_the_api_and_the_executor():
    from actions_api import secrets
    from protocol import redaction

    assert secrets._SECRET_NAME.pattern == redaction.SECRET_NAME.pattern
