"""`safehold staff …`: the first owner, invitations, the member list, removal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from safehold.access.rules import Actor
from safehold.cli_support import fail, full_table, out, runtime_or_exit, upgrade_or_exit
from safehold.errors import SafeholdError
from safehold.staff import rules
from safehold.staff.rules import UnknownRole

if TYPE_CHECKING:
    from safehold.staff.models import StaffMember

# The database and the services are imported by the commands that use them: `--help` needs
# none of them (cli_group).

app = typer.Typer(help="Staff members of the admin console.", no_args_is_help=True)
CLI = Actor("admin", "cli")
NameOption = Annotated[str, typer.Option(help="How the console and the audit views name them")]


def _invite(email: str, name: str, role: rules.Role | None) -> None:
    from safehold.db import transaction
    from safehold.staff import service

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    ctx = service.context(runtime)
    try:
        with transaction(runtime.sessions) as session:
            if role is None:
                member = service.create_owner(session, ctx, email, name=name, actor=CLI)
            else:
                member = service.invite(session, ctx, email, name=name, role=role, actor=CLI)
    except SafeholdError as exc:
        fail(exc.message)
    label = rules.ROLES[rules.Role(member.role)].label
    out.print(f"Invited {member.name} as {label} (member {member.id}); invitation e-mailed.")
    out.print(f"They sign in at {runtime.settings.base_url}/admin/sign-in within "
              f"{rules.INVITATION_TTL.days} days.")  # fmt: skip


@app.command("create-owner")
def create_owner(email: str, name: NameOption = "Owner") -> None:
    """Invite the first owner (refused once an owner exists: owners invite the others)."""
    _invite(email, name, None)


@app.command()
def invite(
    email: str,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(rules.ROLES)}")],
    name: NameOption = "",
) -> None:
    """Invite a member with a role; they sign in with an e-mailed code and a TOTP app."""
    try:
        chosen = rules.role_of(role)
    except UnknownRole as exc:
        fail(str(exc))
    _invite(email, name or email.partition("@")[0], chosen)


def _status(member: StaffMember) -> str:
    if member.removed_at is not None:
        return "removed"
    return "active" if member.joined_at is not None else "invited"


def _when(value: object) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None


@app.command("list")
def list_(
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Every member, removed ones included (audit entries still name them)."""
    from safehold.db import transaction
    from safehold.staff import service

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    with transaction(runtime.sessions) as session:
        rows = [
            {"id": str(m.id), "name": m.name, "role": m.role, "status": _status(m),
             "invited_by": m.invited_by, "created_at": _when(m.created_at),
             "last_sign_in_at": _when(m.last_sign_in_at), "removed_at": _when(m.removed_at)}
            for m in service.members(session)
        ]  # fmt: skip
    if format == "json":
        out.print_json(json.dumps(rows))
        return
    if format != "table":
        fail("--format is table or json")
    table = full_table("id", "name", "role", "status", "last sign-in", "invited by", whole={"id"})
    for row in rows:
        table.add_row(row["id"], row["name"], row["role"], row["status"],
                      row["last_sign_in_at"] or "never", row["invited_by"])  # fmt: skip
    out.print(table)


@app.command()
def role(
    email: str, new_role: Annotated[str, typer.Argument(metavar="ROLE", help="The new role")]
) -> None:
    """Give a member another role; their sessions end at once."""
    from safehold.db import transaction
    from safehold.staff import service

    try:
        chosen = rules.role_of(new_role)
    except UnknownRole as exc:
        fail(str(exc))
    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        with transaction(runtime.sessions) as session:
            ctx = service.context(runtime)
            member = service.change_role(session, ctx, email, chosen, actor=CLI)
    except SafeholdError as exc:
        fail(exc.message)
    label = rules.ROLES[chosen].label
    out.print(f"{member.name} is now {label}; their sessions have ended.")


@app.command()
def remove(email: str) -> None:
    """Remove a member: their sessions end at once and they can no longer sign in."""
    from safehold.db import transaction
    from safehold.staff import service

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        with transaction(runtime.sessions) as session:
            member = service.remove(session, service.context(runtime), email, actor=CLI)
    except SafeholdError as exc:
        fail(exc.message)
    out.print(f"Removed {member.name} (member {member.id}); their sessions have ended.")


@app.command("reset-totp")
def reset_totp(email: str) -> None:
    """Forget a member's authenticator (lost or exposed): their sessions end, and at their
    next sign-in, after the e-mailed code, they set up a new one. The break-glass path for
    an owner nobody else can reset (decision 0042)."""
    from safehold.db import transaction
    from safehold.staff import service

    runtime = runtime_or_exit()
    upgrade_or_exit(runtime)
    try:
        with transaction(runtime.sessions) as session:
            member = service.reset_totp(session, service.context(runtime), email, actor=CLI)
    except SafeholdError as exc:
        fail(exc.message)
    out.print(f"{member.name}'s authenticator is reset; their sessions have ended. At their "
              "next sign-in they set up a new one.")  # fmt: skip
