"""The weekly surveillance report: per-team numbers and a chart, emailed to each team's leads.

    team_metrics(db, book, date(2026, 12, 7))["gi-onc-east"].overdue     # measuring (metrics.py)
    team_letter(metrics, team, ...).message(sender)                       # the email (letters.py)
    netflow.services.reports.weekly_report(inst, date(2026, 12, 7), "weekly-2026W50")   # the use case

What is measured (netflow.domain.metrics): one streaming pass over the cohort's evaluations and
one query over the `closed` events of the last 90 days; no per-patient query, no patient data out.

Who gets it: a care team's program leads (To, no Cc); a team without a lead, its navigators.
With NETFLOW_DATA_STEWARD set and no team filter, the steward gets the installation's data
quality (open quarantine rows, data issues of every team, teams without configuration).

The message: multipart/alternative, plain text and HTML with the same numbers; the HTML part
is multipart/related with the chart as an inline PNG (Content-ID, Content-Disposition: inline)
shown by `<img src="cid:...">`, which Gmail, Outlook, Apple Mail and Thunderbird all render in
the body (most also list it as a downloadable image). A text-only reader has every number.

Delivery and idempotency: unlike a digest, a report is *not* left in the outbox for the outbox
sender: the outbox row has no column for the PNG (and the schema stays as it is), so that sender
would send the report without its chart. The reports go out through the same send loop
(`netflow.reminders.delivery.deliver`) over one SMTP connection, under an exclusive "report"
lock, and each accepted report is recorded in the outbox at once, status `sent`, kind
`team_report` or `steward_report`. The Message-ID is derived from the team and the ISO week
(`<report-gi-onc-east.2026W50@hospital.example>`), so a team whose report for that week is already
in the outbox is skipped: running twice in a week sends nothing the second time, and a crash
between the server's acceptance and the record resends one message with the same Message-ID
(mail systems drop the duplicate). A refused report leaves no row: it is counted as failed (the
task fails loudly) and the next run of the week sends it. Dry run: everything is rendered (for
every selected team, sent or not), written as .eml files if asked, and nothing is sent or recorded.
"""

from netflow.reports.letters import STEWARD, ReportLetter, report_message_id, report_recipients
from netflow.reports.metrics import team_metrics

__all__ = ["STEWARD", "ReportLetter", "report_message_id", "report_recipients", "team_metrics"]
