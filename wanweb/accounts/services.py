"""Every write about teams, memberships and invites."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from wanweb.accounts.models import ROLE_RANK, Invite, Membership, Role, Team, hash_token

INVITE_LIFETIME = timedelta(days=7)


def _unique_team_slug(name: str) -> str:
    base = slugify(name)[:70] or "team"
    slug, n = base, 2
    while Team.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def team_create(*, user, name: str) -> Team:
    """A new team with `user` as its owner."""
    team = Team.objects.create(name=name.strip(), slug=_unique_team_slug(name))
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team


def invite_create(
    *, actor: Membership, role: str, lifetime: timedelta = INVITE_LIFETIME
) -> tuple[Invite, str]:
    """A one-time invite link for actor's team; returns the invite and its raw token (shown once)."""
    if not actor.can_manage_members:
        raise PermissionDenied("Only owners and admins can invite people.")
    if ROLE_RANK[Role(role)] > ROLE_RANK[Role(actor.role)]:
        raise PermissionDenied("You cannot invite someone into a role above your own.")
    token = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        team=actor.team,
        role=role,
        token_hash=hash_token(token),
        created_by=actor.user,
        expires_at=timezone.now() + lifetime,
    )
    return invite, token


def invite_revoke(*, actor: Membership, invite: Invite) -> None:
    if not actor.can_manage_members or invite.team_id != actor.team_id:
        raise PermissionDenied("Only owners and admins can revoke invites.")
    Invite.objects.filter(pk=invite.pk, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


@transaction.atomic
def invite_accept(*, invite: Invite, user) -> Membership:
    """Join the invite's team. The invite is claimed with a conditional update, so it works once."""
    claimed = Invite.objects.filter(
        pk=invite.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).update(used_at=timezone.now(), used_by=user)
    if not claimed:
        raise ValidationError("This invite link has expired or was already used.")
    membership, created = Membership.objects.get_or_create(
        team=invite.team, user=user, defaults={"role": invite.role}
    )
    if not created and ROLE_RANK[Role(invite.role)] > ROLE_RANK[Role(membership.role)]:
        membership.role = invite.role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def invite_accept_as_new_user(*, invite: Invite, username: str, password: str):
    """Create the invitee's account and join the team, all or nothing."""
    user_model = get_user_model()
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(username=username, password=password)
    except IntegrityError:
        raise ValidationError({"username": "That username is taken."}) from None
    invite_accept(invite=invite, user=user)
    return user


def _ensure_an_owner_remains(team: Team, *, losing: Membership) -> None:
    if (
        losing.role == Role.OWNER
        and team.memberships.filter(role=Role.OWNER).exclude(pk=losing.pk).count() == 0
    ):
        raise ValidationError("A team needs at least one owner. Make someone else owner first.")


@transaction.atomic
def membership_change_role(*, actor: Membership, target: Membership, role: str) -> Membership:
    """Owners change anyone's role; admins change members and viewers, up to admin."""
    if not actor.can_manage_members or target.team_id != actor.team_id:
        raise PermissionDenied("Only owners and admins can change roles.")
    if not actor.is_owner and (target.role == Role.OWNER or role == Role.OWNER):
        raise PermissionDenied("Only owners can make or unmake owners.")
    if not actor.is_owner and target.role == Role.ADMIN and target.pk != actor.pk:
        raise PermissionDenied("Only owners can change another admin's role.")
    # Lock the team's owner rows so two owners demoting each other cannot leave none.
    list(
        Membership.objects.select_for_update().filter(team_id=target.team_id, role=Role.OWNER).order_by("pk")
    )
    if role != Role.OWNER:
        _ensure_an_owner_remains(target.team, losing=target)
    target.role = role
    target.save(update_fields=["role"])
    return target


@transaction.atomic
def membership_remove(*, actor: Membership, target: Membership) -> None:
    """Remove someone else (owners and admins), or yourself (leaving)."""
    leaving = target.pk == actor.pk
    if not leaving:
        if not actor.can_manage_members or target.team_id != actor.team_id:
            raise PermissionDenied("Only owners and admins can remove members.")
        if not actor.is_owner and target.has_role(Role.ADMIN):
            raise PermissionDenied("Only owners can remove admins and owners.")
    list(
        Membership.objects.select_for_update().filter(team_id=target.team_id, role=Role.OWNER).order_by("pk")
    )
    _ensure_an_owner_remains(target.team, losing=target)
    target.delete()
