"""The admin console (/admin): one router made of the page groups, in navigation order.
Every page needs a staff session and checks its own scope (staff management: the owner role)."""

from __future__ import annotations

from fastapi import APIRouter

from safehold.console import (
    owner_pages,
    people_pages,
    policy_pages,
    promise_pages,
    record_pages,
    request_pages,
    ropa_pages,
    staff_pages,
)

router = APIRouter(include_in_schema=False)
router.include_router(request_pages.router)  # /admin, /admin/requests…
router.include_router(owner_pages.router)  # /admin/requests/{id}/assignee, /notes
router.include_router(people_pages.router)  # /admin/people…
router.include_router(record_pages.router)  # /admin/audit, /admin/messages
router.include_router(policy_pages.router)  # /admin/policy, /admin/retention, /admin/analytics
router.include_router(promise_pages.router)  # /admin/promises
router.include_router(ropa_pages.router)  # /admin/ropa
router.include_router(staff_pages.router)  # /admin/staff (owners only)
