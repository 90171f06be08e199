"""Mail: an SMTP sender, and a local mail sink that keeps each message it receives as a file.

SmtpSender sends one message at a time on one connection (opened on first use, with a
timeout, optional STARTTLS and login). A failure of the connection or session raises
MailUnavailable (nothing about this message is known to be wrong: try again later); a
refusal of this message raises MailRejected with the server's code. Every message carries
`Message-ID: <message_id@marketplace>`, so a message sent twice is recognisably the same one,
and a mail an event caused carries `X-Correlation-ID` and `X-Causation-ID` (the flow and
the event), so it can be traced back to the request that started the flow.

MailSink is an aiosmtpd server for the embedded platform: it accepts everything and writes
each message, unchanged, to its own .eml file in a folder.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from infra.settings import MailSettings, Settings

MESSAGE_ID_DOMAIN = "marketplace"
UNAVAILABLE_CODES = frozenset({421})
"""Replies that speak of the server, not the message: 421 means it is closing the channel."""


class MailUnavailable(Exception):
    """The SMTP server could not be reached, or the session failed: try again later."""


class MailRejected(Exception):
    """The server refused this message; 4xx codes mean for now, 5xx for good."""

    def __init__(self, code: int, reply: str) -> None:
        super().__init__(f"{code} {reply}")
        self.code = code


@dataclass(frozen=True)
class Mail:
    """One message to one recipient, plain text."""

    message_id: str
    to_address: str
    to_name: str
    subject: str
    body: str
    correlation_id: str = ""
    causation_id: str = ""


def message_id_header(message_id: str) -> str:
    """The Message-ID header value of the mail with this id."""
    return f"<{message_id}@{MESSAGE_ID_DOMAIN}>"


def message_for(mail: Mail, mail_from: str, date: str | None = None) -> EmailMessage:
    """The RFC 5322 message: From, To, Subject, Date, Message-ID, the trace headers of a mail
    that has a cause, and a UTF-8 text body.

    A non-ASCII address makes an internationalised message (RFC 6532), which goes only to
    a server that offers SMTPUTF8; any other header text is encoded as RFC 2047 words.
    """
    message = EmailMessage(policy.default if mail.to_address.isascii() else policy.SMTPUTF8)
    message["From"] = mail_from
    message["To"] = recipient(mail.to_name, mail.to_address)
    message["Subject"] = mail.subject
    message["Date"] = date or formatdate(usegmt=True)
    message["Message-ID"] = message_id_header(mail.message_id)
    if mail.causation_id:
        message["X-Correlation-ID"] = mail.correlation_id
        message["X-Causation-ID"] = mail.causation_id
    message.set_content(mail.body)
    return message


def recipient(name: str, address: str) -> Address | str:
    """The To header's value; ValueError if no message can carry the address."""
    if address.isascii():
        return Address(display_name=name, addr_spec=address)
    if address.count("@") != 1 or any(c.isspace() or c in '<>"' for c in address):
        raise ValueError(f"not an address: {address!r}")
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'  # the library's Address refuses a non-ASCII local part


class SmtpSender:
    """Sends mails through one SMTP server, keeping the connection open between messages."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        mail_from: str,
        timeout: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.mail_from = mail_from
        self.timeout = timeout
        self.starttls = starttls
        self.username = username
        self.password = password
        self._smtp: smtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, mail: MailSettings) -> SmtpSender:
        """A sender configured by MARKETPLACE_SMTP_* and MARKETPLACE_MAIL_FROM."""
        password = mail.password
        return cls(
            mail.host,
            mail.port,
            mail_from=mail.sender,
            timeout=mail.timeout_seconds,
            starttls=mail.starttls,
            username=mail.username,
            password=password.get_secret_value() if password else None,
        )

    def send(self, mail: Mail) -> None:
        """Send one mail; MailUnavailable or MailRejected if the server did not take it.

        An address that no message can carry, or one that needs SMTPUTF8 from a server that
        lacks it, is this mail's rejection: it never stops the sender.
        """
        try:
            message = message_for(mail, self.mail_from)
        except (ValueError, HeaderParseError) as error:
            raise MailRejected(553, f"no message can carry this address: {error}") from error
        try:
            smtp = self._connected()
            smtp.send_message(message)
        except smtplib.SMTPNotSupportedError as error:
            raise MailRejected(553, f"the server cannot take this address: {error}") from error
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()), (550, b"refused"))
            raise self._refusal(int(code), reply) from error
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            raise self._refusal(error.smtp_code, error.smtp_error) from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise MailUnavailable(repr(error)) from error

    def close(self) -> None:
        """Quit the connection if one is open (safe to call at any time)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connected(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def _refusal(self, code: int, reply: bytes | str) -> Exception:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        if code in UNAVAILABLE_CODES:
            self.close()
            return MailUnavailable(f"{code} {text}")
        return MailRejected(code, text)


class _KeepAsFiles:
    """aiosmtpd handler: each message's bytes go to a new file, written then renamed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".incoming-")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, self.folder / name)
        return "250 Message accepted for delivery"


def local_sink(settings: Settings) -> MailSink | None:
    """The sink `marketplace up` runs when the SMTP host is left at its default, else None.

    It listens on that host and the SMTP port and keeps messages under `<data_dir>/mail`.
    """
    if settings.mail.host != MailSettings.model_fields["host"].default:
        return None
    return MailSink(settings.data_dir / "mail", settings.mail.host, settings.mail.port)


class MailSink:
    """A local SMTP server that accepts every message and keeps it as an .eml file."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.folder = folder
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    def start(self) -> None:
        """Create the folder and listen; returns once the server answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        controller = Controller(
            _KeepAsFiles(self.folder), hostname=self.host, port=self.port, enable_SMTPUTF8=True
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening (safe when not started)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def files(self) -> list[Path]:
        """The kept messages' files, oldest first."""
        return sorted(self.folder.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        """The kept messages, parsed, oldest first."""
        parsed = []
        for path in self.files():
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed
