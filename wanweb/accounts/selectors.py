"""Reads about teams that views and services share. Every lookup is scoped to the asking user."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

from wanweb.accounts.models import Invite, Membership, Team, hash_token
from wanweb.errors import NotFound


def membership_list_for_user(*, user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("team").order_by("team__name")


def membership_get_by_public_id(*, user, public_id) -> Membership:
    try:
        return Membership.objects.select_related("team").get(user=user, team__public_id=public_id)
    except Membership.DoesNotExist:
        raise Http404("No such team") from None


def team_members(*, team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__username")


def team_member_get(*, team: Team, public_id) -> Membership:
    """A membership of `team` by its public id; Http404 for anyone else's."""
    try:
        return Membership.objects.select_related("user", "team").get(team=team, public_id=public_id)
    except (Membership.DoesNotExist, ValueError):
        raise Http404("No such member") from None


def team_list_for_user(*, user) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).annotate(member_count=Count("memberships"))


def invite_list_open(*, team: Team) -> QuerySet[Invite]:
    return team.invites.filter(used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class InviteUnknown(NotFound):
    """No invite has this token: a typo, or someone guessing (the view counts it as a failed try)."""


def invite_get_by_token(*, token: str) -> Invite:
    """A usable invite for this raw token; InviteUnknown when unknown, NotFound (saying why) when used,
    revoked or expired."""
    try:
        invite = Invite.objects.select_related("team").get(token_hash=hash_token(token))
    except Invite.DoesNotExist:
        raise InviteUnknown(
            "This invite link is not valid. Check that you copied all of it, or ask for a new one."
        ) from None
    if invite.used_at:
        raise NotFound("This invite was already used: log in with the account it made, or ask for a new one.")
    if invite.revoked_at:
        raise NotFound("This invite was revoked. Ask a team owner or admin for a new one.")
    if not invite.is_usable:
        raise NotFound("This invite has expired. Ask a team owner or admin for a new one.")
    return invite
