"""Puts the user's current team on the request: `request.membership` (or None)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

SESSION_KEY = "current_team_id"


def current_membership(request):
    """The membership of the team picked in the session, else the user's first team, else None."""
    if not request.user.is_authenticated:
        return None
    from wanweb.accounts.models import Membership

    memberships = Membership.objects.select_related("team").filter(user=request.user)
    team_id = request.session.get(SESSION_KEY)
    membership = memberships.filter(team_id=team_id).first() if team_id else None
    if membership is None:
        membership = memberships.order_by("team__name").first()
        if membership is not None:
            request.session[SESSION_KEY] = membership.team_id
    return membership


class CurrentTeamMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Lazy: pages that never look at the team (static, login) cost no query.
        request.membership = SimpleLazyObject(lambda: current_membership(request))
        return self.get_response(request)
