from __future__ import annotations

from safehold.errors import PayloadTooLarge


class BatchTooLarge(PayloadTooLarge):
    """More events than ``SAFEHOLD_EVENTS_MAX_BATCH`` in one request: nothing was written."""

    code = "batch_too_large"
