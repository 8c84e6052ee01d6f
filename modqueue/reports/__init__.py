"""Accountability reports from the queue's own data: referrals by trusted flaggers,
statements of reasons (EU DSA Art. 17) and transparency reports (DSA Art. 15 and 24).

* `referral_report()` counts what became of each source's referrals, per policy.

Every figure is an SQL aggregation; the services only read (run them in
`ReviewQueue.read`) and need the `view_reports` permission (leads and admins).
"""

from modqueue.reports._referrals import OUTCOMES, ReferralFilter, referral_report

__all__ = ["OUTCOMES", "ReferralFilter", "referral_report"]
