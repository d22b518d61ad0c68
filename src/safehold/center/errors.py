from __future__ import annotations

from safehold.errors import Gone, NotFound


class CertificateLinkInvalid(NotFound):
    """Not a certificate link this Safehold issued, or not for this request."""

    code = "certificate_link_invalid"


class CertificateLinkExpired(Gone):
    code = "certificate_link_expired"
