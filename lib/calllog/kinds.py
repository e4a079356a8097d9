"""The kinds of call-log entry that are not API calls nor access events, named once: the writers
use these names, and the audit page's kind filter offers them."""
from __future__ import annotations

WEBHOOK = "webhook"  # a delivery to the webhook route: accepted, duplicate or refused
PAYMENT_RESOLUTION = "payment_resolution"  # a person settling a money operation that got no answer
CHECKPOINT = "checkpoint"  # someone pinned the log's head from the audit page
EXPORT = "export"  # someone took the audit view away as a file
ARCHIVE = "archive"  # the oldest entries were moved to an archive file (lib.calllog.archive)
