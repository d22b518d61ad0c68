from __future__ import annotations

from safehold.errors import Forbidden


class CsrfRejected(Forbidden):
    """A form post without the page's CSRF token (another site, or a page left open for
    longer than the cookie lived)."""

    code = "csrf_rejected"


class SignInRequired(Exception):
    """A page for signed-in people or staff was asked for without a live session: the
    handler answers with a redirect to ``to``."""

    def __init__(self, to: str) -> None:
        super().__init__(to)
        self.to = to
