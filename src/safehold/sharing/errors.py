from __future__ import annotations

from safehold.errors import Conflict, Forbidden, NotFound


class DisclosureRefused(Forbidden):
    """The policy refuses the disclosure as a whole; nothing is disclosed. ``details.rule``
    names the rule. The audit entries recording the refusal are committed all the same."""

    code = "disclosure_refused"
    keeps_writes = True


class DisclosureNotFound(NotFound):
    code = "disclosure_not_found"


class PropagationNotFound(NotFound):
    code = "propagation_not_found"


class PropagationStateConflict(Conflict):
    """The step is not allowed from the notice's state (e.g. acknowledging twice)."""

    code = "propagation_state_conflict"
