from __future__ import annotations


def teams(request):
    """The current membership and the user's teams, for the top bar's team switcher."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    from wanweb.accounts.selectors import membership_list_for_user

    return {
        "current_membership": request.membership if request.membership else None,
        "user_memberships": membership_list_for_user(user=request.user),
    }
