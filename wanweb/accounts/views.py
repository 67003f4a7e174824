from __future__ import annotations

from datetime import timedelta
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from wanweb.accounts import selectors, services, throttle
from wanweb.accounts.forms import InviteForm, InviteSignupForm, RoleForm, TeamForm
from wanweb.accounts.middleware import SESSION_KEY


def team_required(view):
    """Login required, and a current team: a user with none is sent to make one."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.membership:
            return redirect("accounts:team-list")
        return view(request, *args, **kwargs)

    return wrapper


@require_http_methods(["GET", "POST"])
@login_required
def team_list(request):
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.team_create(user=request.user, name=form.cleaned_data["name"])
        request.session[SESSION_KEY] = team.pk
        messages.success(request, f"Team “{team.name}” created. You are its owner.")
        return redirect("generations:project-list")
    return render(
        request,
        "accounts/team_list.html",
        {"teams": selectors.team_list_for_user(user=request.user), "form": form},
    )


@require_POST
@login_required
def team_switch(request, team_id):
    membership = selectors.membership_get_by_public_id(user=request.user, public_id=team_id)
    request.session[SESSION_KEY] = membership.team_id
    messages.info(request, f"Switched to {membership.team.name}.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("generations:project-list"))
    return redirect("generations:project-list")


@require_GET
@team_required
def member_list(request):
    actor = request.membership
    return render(
        request,
        "accounts/member_list.html",
        {
            "actor": actor,
            "members": selectors.team_members(team=actor.team),
            "invites": selectors.invite_list_open(team=actor.team) if actor.can_manage_members else [],
            "invite_form": InviteForm(actor=actor),
        },
    )


@require_POST
@team_required
def invite_create(request):
    actor = request.membership
    if not actor.can_manage_members:
        raise PermissionDenied
    form = InviteForm(request.POST, actor=actor)
    context = {"actor": actor, "invite_form": form}
    if form.is_valid():
        invite, token = services.invite_create(
            actor=actor, role=form.cleaned_data["role"], lifetime=timedelta(days=form.cleaned_data["days"])
        )
        context["new_invite_url"] = request.build_absolute_uri(
            reverse("accounts:invite-accept", args=[token])
        )
        context["new_invite"] = invite
        context["invite_form"] = InviteForm(actor=actor)
    context["invites"] = selectors.invite_list_open(team=actor.team)
    if request.htmx:
        return render(request, "accounts/member_list.html#invite-panel", context)
    if "new_invite_url" in context:
        # Without htmx the link can only be shown on this response: render the page, do not redirect.
        context["members"] = selectors.team_members(team=actor.team)
        return render(request, "accounts/member_list.html", context)
    return redirect("accounts:member-list")


@require_POST
@team_required
def invite_revoke(request, invite_id):
    actor = request.membership
    if not actor.can_manage_members:
        raise PermissionDenied
    invite = selectors.invite_list_open(team=actor.team).filter(public_id=invite_id).first()
    if invite is None:
        raise Http404("No such invite")
    services.invite_revoke(actor=actor, invite=invite)
    if request.htmx:
        return HttpResponse("")
    return redirect("accounts:member-list")


@require_POST
@team_required
def member_role(request, member_id):
    actor = request.membership
    target = selectors.team_member_get(team=actor.team, public_id=member_id)
    form = RoleForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            target = services.membership_change_role(
                actor=actor, target=target, role=form.cleaned_data["role"]
            )
        except (PermissionDenied, ValidationError) as exc:
            error = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            target.refresh_from_db()
    else:
        error = "Pick a role from the list."
    if request.htmx:
        response = render(
            request, "accounts/member_list.html#member-row", {"actor": actor, "m": target, "row_error": error}
        )
        if not error:
            trigger_client_event(response, "role-changed")
        return response
    if error:
        messages.error(request, error)
    return redirect("accounts:member-list")


@require_POST
@team_required
def member_remove(request, member_id):
    actor = request.membership
    target = selectors.team_member_get(team=actor.team, public_id=member_id)
    leaving = target.pk == actor.pk
    try:
        services.membership_remove(actor=actor, target=target)
    except (PermissionDenied, ValidationError) as exc:
        message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        if request.htmx:
            return render(
                request,
                "accounts/member_list.html#member-row",
                {"actor": actor, "m": target, "row_error": message},
            )
        messages.error(request, message)
        return redirect("accounts:member-list")
    if leaving:
        request.session.pop(SESSION_KEY, None)
        messages.info(request, f"You left {actor.team.name}.")
        if request.htmx:
            return HttpResponseClientRedirect(reverse("home"))
        return redirect("home")
    if request.htmx:
        return HttpResponse("")
    messages.success(request, f"{target.user.username} was removed from the team.")
    return redirect("accounts:member-list")


@require_http_methods(["GET", "POST"])
def invite_accept(request, token):
    # Throttled like logins: unknown tokens from one address count as failed tries (axes).
    if not throttle.invite_allowed(request):
        return throttle.lockout_response(request, credentials=throttle.INVITE_CREDENTIALS)
    try:
        invite = selectors.invite_get_by_token(token=token)
    except selectors.InviteUnknown:
        throttle.invite_failed(request)
        raise
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                membership = services.invite_accept(invite=invite, user=request.user)
            except ValidationError as exc:
                messages.error(request, exc.messages[0])
                return redirect("home")
            request.session[SESSION_KEY] = membership.team_id
            messages.success(request, f"Welcome to {invite.team.name}.")
            return redirect("generations:project-list")
        return render(request, "accounts/invite_accept.html", {"invite": invite})

    form = InviteSignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invite_accept_as_new_user(
                invite=invite, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc.messages)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_KEY] = invite.team_id
            messages.success(request, f"Welcome to {invite.team.name}, {user.username}.")
            return redirect("generations:project-list")
    return render(request, "accounts/invite_accept.html", {"invite": invite, "form": form})
