"""std.email against real aiosmtpd servers on 127.0.0.1 (plain, and STARTTLS + AUTH)."""

from __future__ import annotations

import email
import logging

import pytest
from std_support import free_port, smtp_server

from actions_api import ActionContext, ActionException
from std_actions.mail import SendEmailAction

CTX = ActionContext()
PASSWORD = "smtp-pa55-word"


@pytest.fixture(scope="module")
def plain_smtp():
    with smtp_server() as (address, box):
        yield address, box


@pytest.fixture(scope="module")
def tls_smtp(tmp_path_factory):
    with smtp_server(tmp_path_factory.mktemp("smtp-tls"), password=PASSWORD) as (address, box):
        yield address, box


def send(address: str, **params):
    params.setdefault("from_addr", "mistral@example.com")
    params.setdefault("to_addrs", ["ops@example.com"])
    return SendEmailAction(smtp_server=address, **params).run(CTX)


def test_a_plain_text_message_reaches_every_recipient(plain_smtp):
    address, box = plain_smtp
    result = send(
        address,
        to_addrs=["a@example.com", "b@example.com"],
        cc_addrs=["c@example.com"],
        bcc_addrs=["hidden@example.com"],
        reply_to=["replies@example.com"],
        subject="Deploy finished",
        body="All green.",
    )
    assert result is None
    got = box.messages[-1]
    assert got["mail_from"] == "mistral@example.com"
    assert sorted(got["rcpt_tos"]) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "hidden@example.com",
    ]
    msg = email.message_from_string(got["content"])
    assert msg["To"] == "a@example.com, b@example.com"
    assert msg["Cc"] == "c@example.com"
    assert msg["Reply-To"] == "replies@example.com"
    assert "hidden@example.com" not in got["content"]
    assert str(email.header.make_header(email.header.decode_header(msg["Subject"]))) == (
        "Deploy finished"
    )
    assert msg.get_content_type() == "text/plain"
    assert msg.get_payload(decode=True).decode() == "All green."
    assert got["tls"] is False


def test_an_html_body_makes_a_multipart_alternative_message(plain_smtp):
    address, box = plain_smtp
    send(address, body="plain version", html_body="<b>html version</b>")
    msg = email.message_from_string(box.messages[-1]["content"])
    assert msg.get_content_type() == "multipart/alternative"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in msg.walk()
        if not p.is_multipart()
    }
    assert parts["text/plain"] == "plain version"
    assert parts["text/html"] == "<b>html version</b>"


def test_subject_and_body_default_to_mistrals_placeholders(plain_smtp):
    address, box = plain_smtp
    send(address)
    msg = email.message_from_string(box.messages[-1]["content"])
    assert str(email.header.make_header(email.header.decode_header(msg["Subject"]))) == (
        "<No subject>"
    )
    assert msg.get_payload(decode=True).decode() == "<No body>"


def test_a_single_address_string_is_one_recipient(plain_smtp):
    address, box = plain_smtp
    send(address, to_addrs="solo@example.com")
    assert box.messages[-1]["rcpt_tos"] == ["solo@example.com"]


def test_with_a_password_it_upgrades_to_tls_and_logs_in_as_the_sender(tls_smtp):
    address, box = tls_smtp
    send(address, smtp_password=PASSWORD, subject="secure")
    got = box.messages[-1]
    assert got["tls"] is True
    assert box.logins[-1] == ("mistral@example.com", PASSWORD)


def test_a_wrong_password_fails_without_showing_it(tls_smtp, caplog):
    caplog.set_level(logging.DEBUG)
    address, _box = tls_smtp
    with pytest.raises(ActionException, match="Failed to send an email message") as info:
        send(address, smtp_password="wrong-secret-9")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "wrong-secret-9" not in str(info.value)
    assert "wrong-secret-9" not in logged


def test_a_password_is_never_sent_to_a_server_without_starttls(plain_smtp):
    address, box = plain_smtp
    count = len(box.messages)
    with pytest.raises(ActionException, match="STARTTLS"):
        send(address, smtp_password=PASSWORD)
    assert len(box.messages) == count


def test_the_tls_server_refuses_mail_without_a_password(tls_smtp):
    address, _box = tls_smtp
    with pytest.raises(ActionException, match="Failed to send an email message"):
        send(address)


def test_an_unreachable_server_fails_the_action():
    with pytest.raises(ActionException, match="Failed to send an email message"):
        send(f"127.0.0.1:{free_port()}")


def test_an_email_action_rebuilt_from_mistrals_attributes_sends(plain_smtp):
    address, box = plain_smtp
    state = {  # vars() of Mistral's SendEmailAction after __init__
        "to": ["rebuilt@example.com"],
        "cc": [],
        "bcc": [],
        "reply_to": [],
        "subject": "rebuilt",
        "body": "from vars()",
        "html_body": None,
        "smtp_server": address,
        "sender": "mistral@example.com",
        "password": None,
    }
    action = SendEmailAction.__new__(SendEmailAction)
    for name, value in state.items():
        setattr(action, name, value)
    assert action.run(CTX) is None
    assert box.messages[-1]["rcpt_tos"] == ["rebuilt@example.com"]
    assert set(vars(SendEmailAction("f@x", ["t@x"], address))) == set(state)


def test_std_email_through_the_executor_sends(plain_smtp, executor):
    address, box = plain_smtp
    result = executor.run(
        "std.email",
        {
            "from_addr": "mistral@example.com",
            "to_addrs": ["e2e@example.com"],
            "smtp_server": address,
            "subject": "through the executor",
            "body": "hello",
        },
    )
    assert result.is_success(), result.error
    assert result.data is None
    assert box.messages[-1]["rcpt_tos"] == ["e2e@example.com"]


def test_std_email_through_the_executor_logs_in_over_tls(tls_smtp, fork_executor):
    address, box = tls_smtp
    result = fork_executor.run(
        "std.email",
        {
            "from_addr": "mistral@example.com",
            "to_addrs": ["e2e@example.com"],
            "smtp_server": address,
            "smtp_password": PASSWORD,
        },
    )
    assert result.is_success(), result.error
    assert box.messages[-1]["tls"] is True
