"""Accountability reports from the queue's own data: referrals by trusted flaggers,
statements of reasons (EU DSA Art. 17) and transparency reports (DSA Art. 15 and 24).

* `referral_report()` counts what became of each source's referrals, per policy.
* `iter_statements()` streams one statement of reasons per restrictive decision, in the
  shape of the DSA Transparency Database's statement API; `ReportsConfig` (`[reports]`)
  says which policies enforce the law rather than the terms, and their categories.
* `transparency_data()` computes a transparency report's figures for a `Period`
  (`parse_period("2026-H2")`); `write_report()` writes them as JSON, markdown and a
  self-contained HTML page with charts.

Every figure is an SQL aggregation; the services only read (run them in
`ReviewQueue.read`) and need the `view_reports` permission (leads and admins).
"""

from modqueue.reports._grounds import CATEGORIES, DEFAULT_CATEGORIES, PolicyGrounds, ReportsConfig
from modqueue.reports._period import Period, parse_period
from modqueue.reports._referrals import OUTCOMES, ReferralFilter, referral_report
from modqueue.reports._render import render_html, render_markdown, write_report
from modqueue.reports._statements import (
    AUTOMATED_ORIGINS,
    RESTRICTIVE_ACTIONS,
    iter_statements,
    puid_of,
    statement_of,
)
from modqueue.reports._transparency import REPORT_VERSION, transparency_data

__all__ = [
    "AUTOMATED_ORIGINS",
    "CATEGORIES",
    "DEFAULT_CATEGORIES",
    "OUTCOMES",
    "REPORT_VERSION",
    "RESTRICTIVE_ACTIONS",
    "Period",
    "PolicyGrounds",
    "ReferralFilter",
    "ReportsConfig",
    "iter_statements",
    "parse_period",
    "puid_of",
    "referral_report",
    "render_html",
    "render_markdown",
    "statement_of",
    "transparency_data",
    "write_report",
]
