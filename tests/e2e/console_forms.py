"""Reading a console page's form the way a browser submits it."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from httpx import Response

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def hidden_fields(page: Response, action: str) -> dict[str, str]:
    """The hidden inputs of the page's form that posts to ``action`` (values unescaped)."""
    form = page.text.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    return {name: html.unescape(value) for name, value in HIDDEN.findall(form)}


def confirm(client: TestClient, preview: Response) -> Response:
    """Press "Publish" on a policy preview page."""
    assert preview.status_code in (200, 409), preview.text[:500]
    data = hidden_fields(preview, "/admin/policy/publish")
    return client.post("/admin/policy/publish", data=data, follow_redirects=False)
