"""The FastAPI app factory. Its router list is the table of contents of the HTTP API."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from safehold import __version__, handlers
from safehold.access.routes import audit_router
from safehold.access.routes import router as keys_router
from safehold.analytics.routes import router as analytics_router
from safehold.center.routes import router as center_router
from safehold.comms.routes import pages as unsubscribe_pages
from safehold.comms.routes import router as messages_router
from safehold.console.routes import router as console_router
from safehold.dbtimeouts import RequestDeadline
from safehold.events.routes import document_batch
from safehold.events.routes import router as events_router
from safehold.middleware import HttpMetrics, RequestContext
from safehold.notices.routes import people_router as acceptance_router
from safehold.notices.routes import router as versions_router
from safehold.ops.routes import router as ops_router
from safehold.policy.routes import router as policy_router
from safehold.promises import metrics as promise_metrics
from safehold.requests import metrics as request_metrics
from safehold.requests.owner_routes import router as request_owner_router
from safehold.requests.routes import exports as exports_pages
from safehold.requests.routes import router as requests_router
from safehold.retention.routes import router as holds_router
from safehold.runtime import Runtime
from safehold.sharing.routes import router as sharing_router
from safehold.staff.oidc_routes import router as staff_sso
from safehold.staff.passkey_routes import router as staff_passkeys
from safehold.staff.routes import router as staff_sign_in
from safehold.subjects.routes import router as subjects_router
from safehold.web import apidocs
from safehold.web.auth import router as sign_in_router
from safehold.web.routes import router as web_router
from safehold.web.security import SecurityHeaders
from safehold.web.templating import STATIC_DIR

DESCRIPTION = """\
Safehold holds what a subscription service collects about its customers and makes its
privacy policy true by construction. Authenticate with an API key:
`Authorization: Bearer shk_…`. Every error has the shape
`{"error": {"code": "...", "message": "...", "details": {...}}}`.
"""


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Safehold", version=__version__, description=DESCRIPTION,
        docs_url=None, redoc_url=None,  # /docs is ours: offline assets, strict CSP (apidocs)
    )  # fmt: skip
    app.state.runtime = runtime
    handlers.install(app)
    handlers.document_errors(app)  # every error status in /openapi.json, one shape
    document_batch(app)  # the event batch's models, which its route reads itself
    app.add_middleware(handlers.UnhandledErrors)  # a bare 500, logged with its frames only
    app.add_middleware(SecurityHeaders)
    # Every statement of a request is bounded (PostgreSQL): a stuck database answers 503.
    app.add_middleware(RequestDeadline, seconds=runtime.settings.db_statement_timeout)
    app.add_middleware(
        RequestContext,
        max_body=runtime.settings.max_request_bytes,
        body_limits={"/v1/events": runtime.settings.events_max_request_bytes},  # event batches
        metrics=HttpMetrics(runtime.registry),
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    apidocs.install(app)  # /docs: Swagger UI from a PyPI package, no CDN

    app.include_router(ops_router)  # /healthz /readyz /metrics
    app.include_router(policy_router)  # /v1/policy
    app.include_router(versions_router)  # /v1/policy/versions, /diff, /acceptances
    app.include_router(keys_router)  # /v1/keys
    app.include_router(subjects_router)  # /v1/subjects (people, payment methods)
    app.include_router(events_router)  # /v1/events, /v1/subjects/{id}/logins|devices|events
    app.include_router(acceptance_router)  # /v1/subjects/{id}/policy-acceptance, /activity
    app.include_router(sharing_router)  # /v1/recipients, /disclosures, /propagations, /ropa
    app.include_router(requests_router)  # /v1/requests: people's requests, erasure, certificates
    app.include_router(request_owner_router)  # /v1/requests/{id}/assignee, /notes
    app.include_router(holds_router)  # /v1/holds: legal holds
    app.include_router(analytics_router)  # /v1/analytics reports, /v1/subjects/{id}/objections
    request_metrics.install(runtime)  # safehold_requests_overdue on /metrics
    promise_metrics.install(runtime)  # safehold_promise_violations{check} on /metrics
    app.include_router(messages_router)  # /v1/messages, /v1/subjects/{id}/marketing
    app.include_router(audit_router)  # /v1/audit
    app.include_router(web_router)  # pages: / /policy
    app.include_router(sign_in_router)  # pages: /me/sign-in (e-mailed code), /admin/sign-in
    app.include_router(staff_sign_in)  # pages: /admin/sign-in/email|code|totp (staff members)
    app.include_router(staff_passkeys)  # pages: /admin/sign-in/passkey…, /admin/passkeys
    app.include_router(staff_sso)  # pages: /admin/sign-in/oidc[/callback] (single sign-on)
    app.include_router(center_router)  # pages: /me, the privacy center
    app.include_router(console_router)  # pages: /admin (the staff's console)
    app.include_router(unsubscribe_pages)  # pages: /unsubscribe/{token} (RFC 8058 one-click)
    app.include_router(exports_pages)  # pages: /exports/{token} (a person's data, by signed link)
    return app
