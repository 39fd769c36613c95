"""std.email: send a message through an SMTP server (smtplib).

Parameters and attribute names are Mistral's (``self.to``, ``self.sender``,
``self.password``...), so an action Mistral serialized runs here unchanged.
With ``smtp_password`` the action upgrades the connection with STARTTLS and
logs in as ``from_addr``, as Mistral does; the password is never logged.
"""

from __future__ import annotations

import logging
import smtplib
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any, cast

from actions_api import Action, ActionContext, ActionException

LOG = logging.getLogger(__name__)

#: Seconds any one SMTP operation (connect, command, reply) may take.
#: Mistral sets none; without one a silent server pins the action forever.
SMTP_TIMEOUT = 60.0


def _as_list(value: Any) -> list[str]:
    """Addresses as a list: Mistral expects lists; a single string is one address."""
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


class SendEmailAction(Action):
    """Send an email; returns None.

    ``smtp_server`` is ``host`` or ``host:port`` (port 25 by default). A
    message with ``html_body`` is multipart/alternative with both bodies.
    """

    def __init__(
        self,
        from_addr: str,
        to_addrs: list[str],
        smtp_server: str,
        reply_to: list[str] | None = None,
        cc_addrs: list[str] | None = None,
        bcc_addrs: list[str] | None = None,
        smtp_password: str | None = None,
        subject: str | None = None,
        body: str | None = None,
        html_body: str | None = None,
    ):
        self.to = to_addrs
        self.cc = cc_addrs or []
        self.bcc = bcc_addrs or []
        self.reply_to = reply_to or []
        self.subject = subject or "<No subject>"
        self.body = body or "<No body>"
        self.html_body = html_body
        self.smtp_server = smtp_server
        self.sender = from_addr
        self.password = smtp_password

    def _describe(self) -> None:
        LOG.info(
            "Sending email message [from=%s, to=%s, reply_to=%s, cc=%s, bcc=%s, subject=%s, "
            "using smtp=%s, login=%s, body=%s...]",
            self.sender,
            self.to,
            self.reply_to,
            self.cc,
            self.bcc,
            self.subject,
            self.smtp_server,
            "yes (STARTTLS)" if self.password is not None else "no",
            str(self.body)[:128],
        )

    def build_message(self) -> MIMEText | MIMEMultipart:
        message: MIMEText | MIMEMultipart
        if not self.html_body:
            message = MIMEText(self.body, _charset="utf-8")
        else:
            message = MIMEMultipart("alternative")
            message.attach(MIMEText(self.body, "plain", _charset="utf-8"))
            message.attach(MIMEText(self.html_body, "html", _charset="utf-8"))
        # Header objects (RFC 2047 encoded, folded), as Mistral; typeshed only knows str.
        message["Subject"] = cast(Any, Header(self.subject, "utf-8"))
        message["From"] = self.sender
        reply_to = _as_list(self.reply_to)
        if reply_to:
            message["Reply-To"] = cast(Any, Header(", ".join(reply_to)))
        message["To"] = ", ".join(_as_list(self.to))
        cc = _as_list(self.cc)
        if cc:
            message["Cc"] = ", ".join(cc)
        return message

    def run(self, context: ActionContext) -> None:
        self._describe()
        message = self.build_message()
        recipients = _as_list(self.cc) + _as_list(self.bcc) + _as_list(self.to)
        try:
            with smtplib.SMTP(self.smtp_server, timeout=SMTP_TIMEOUT) as smtp:
                if self.password is not None:
                    # RFC 3207: upgrade to TLS before the password goes out.
                    smtp.ehlo()
                    smtp.starttls()
                    smtp.ehlo()
                    smtp.login(self.sender, self.password)
                smtp.sendmail(self.sender, recipients, message.as_string())
        except (smtplib.SMTPException, OSError) as exc:
            raise ActionException(f"Failed to send an email message: {exc}")
        return None

    def test(self, context: ActionContext) -> None:
        self._describe()
        return None
