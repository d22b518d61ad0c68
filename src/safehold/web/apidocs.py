"""/docs: the OpenAPI explorer (Swagger UI), served from this process under the strict CSP.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script: a blank
page without internet, third-party script on the operator's domain, and no strict CSP
possible. Here the assets come from the ``fastapi-offline`` package (a maintained Swagger UI
build on PyPI), the page is plain HTML, and it is started by ``/static/api-docs.js``, so
``script-src 'self'`` holds (decision 0031). ReDoc is not served: it needs inline styles.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
# Only what the page uses: fastapi-offline also ships ReDoc, which we do not serve.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""


def assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


class _Assets(StaticFiles):
    """The package's static folder, limited to the files the page loads."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in ASSETS:
            return "", None
        return super().lookup_path(path)


def install(app: FastAPI) -> None:
    """Mount the assets and add GET /docs (the app is made with ``docs_url=None``)."""
    app.mount(ASSETS_URL, _Assets(directory=assets_dir()), name="api-docs-assets")
    router = APIRouter(include_in_schema=False)
    page = PAGE.format(title=app.title, assets=ASSETS_URL, openapi=app.openapi_url)

    @router.get("/docs", response_class=HTMLResponse)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(page)

    app.include_router(router)
