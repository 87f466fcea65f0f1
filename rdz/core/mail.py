"""The SMTP backend of the entities' e-mail (§10): Django's, keeping the refused recipients."""

from django.core.mail.backends.smtp import EmailBackend


class RefusalsKeepingSmtpBackend(EmailBackend):
    """Django's SMTP backend that keeps the recipients the server refused while it took the
    message for the others. smtplib returns them and Django drops them: a daily CSV would
    read as delivered to an address that never got it, and nobody would fix the address.

    `refused` maps each refused address to the server's (code, answer).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refused: dict[str, tuple[int, bytes]] = {}

    def open(self) -> bool | None:
        opened = super().open()
        if opened:
            sendmail = self.connection.sendmail

            def sendmail_keeping_refusals(*args, **kwargs):
                refused = sendmail(*args, **kwargs)
                self.refused.update(refused or {})
                return refused

            self.connection.sendmail = sendmail_keeping_refusals
        return opened
