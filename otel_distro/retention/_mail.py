"""The summary e-mail to the admin: what was deleted (with its backup), what was kept and why, what failed."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import structlog

from ._config import SMTPConfig
from ._plan import Report, human_bytes

__all__ = ["render_summary", "send_summary"]

_log = structlog.get_logger("otel_distro.retention")


def render_summary(report: Report) -> tuple[str, str]:
    """(subject, plain-text body)."""
    status = "OK" if report.ok else "FAILED"
    subject = f"[otel-distro] retention {status}: {report.summary_line()}"
    lines = [f"Retention run, limit: older than {report.cutoff:%Y-%m-%d %H:%M} UTC.", "", report.summary_line(), ""]
    if report.failures:
        lines += ["Failures:", *(f"  - {f}" for f in report.failures), ""]
    if report.outcomes:
        lines.append("Deleted / not deleted:")
        for o in report.outcomes:
            mark = "deleted" if o.deleted else "NOT deleted"
            backup = f", backup {o.backup}" if o.backup else ""
            error = f": {o.error}" if o.error else ""
            lines.append(f"  - {mark}: {o.candidate.describe()}{backup}{error}")
        lines.append("")
    if report.kept:
        lines += ["Kept (older than the limit, but still needed):",
                  *(f"  - {k.store} {k.name}: {k.reason}" for k in report.kept), ""]
    freed = sum(o.candidate.bytes for o in report.deleted)
    lines.append(f"Space freed: {human_bytes(freed)}.")
    return subject, "\n".join(lines) + "\n"


def send_summary(report: Report, smtp: SMTPConfig) -> bool:
    """Send the summary; False (logged, never raised) when it could not be sent or no SMTP is configured."""
    if smtp.host is None or not smtp.to:
        _log.info("retention_summary_not_sent", reason="SMTP_HOST or RETENTION_ADMIN_EMAIL is not set")
        return False
    subject, body = render_summary(report)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp.from_
    message["To"] = ", ".join(smtp.to)
    message.set_content(body)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username is not None and smtp.password is not None:
                client.login(smtp.username, smtp.password.get_secret_value())
            client.send_message(message)
    except (TimeoutError, OSError, smtplib.SMTPException) as exc:
        _log.error("retention_summary_failed", host=smtp.host, port=smtp.port, error=str(exc))
        return False
    _log.info("retention_summary_sent", to=smtp.to, subject=subject)
    return True
