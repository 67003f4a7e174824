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

from wanweb.accounts import selectors, services, throttle, vendor_keys
from wanweb.accounts.forms import InviteForm, InviteSignupForm, RoleForm, TeamForm, VendorKeyForm
from wanweb.accounts.middleware import SESSION_KEY
from wanweb.accounts.models import VerifyStatus


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


# ---------------------------------------------------------------------------------------------
# Vendor keys (wanweb/accounts/vendor_keys.py): owners and admins manage, everyone sees what is
# available. No key is ever rendered, only its last four characters to owners and admins.
# ---------------------------------------------------------------------------------------------


def _vendor_keys_context(actor, forms: dict | None = None) -> dict:
    rows = vendor_keys.vendor_rows(team=actor.team)
    forms = forms or {}
    for row in rows:
        row.form = forms.get(row.vendor) or VendorKeyForm(vendor=row.vendor)
    return {"actor": actor, "rows": rows}


@require_GET
@team_required
def vendor_keys_page(request):
    return render(request, "accounts/vendor_keys.html", _vendor_keys_context(request.membership))


@require_POST
@team_required
def vendor_key_set(request, vendor):
    actor = request.membership
    if vendor not in vendor_keys.VENDORS:
        raise Http404("No such vendor")
    if not actor.can_manage_members:
        raise PermissionDenied
    form = VendorKeyForm(request.POST, vendor=vendor)
    if not form.is_valid():
        response = render(
            request, "accounts/vendor_keys.html", _vendor_keys_context(actor, {vendor: form}), status=400
        )
        return response
    replaced = vendor in vendor_keys.active_credentials(team=actor.team)
    credential = vendor_keys.credential_set(
        membership=actor,
        vendor=vendor,
        api_key=form.cleaned_data["api_key"],
        webhook_secret=form.cleaned_data.get("webhook_secret", ""),
    )
    label = vendor_keys.registry.PROVIDER_LABELS[vendor]
    hint = f" (…{credential.key_hint})" if credential.key_hint else ""
    messages.success(
        request,
        f"{label} key{hint} {'replaced: running jobs finish with the old one' if replaced else 'added'}.",
    )
    return redirect("accounts:vendor-keys")


@require_POST
@team_required
def vendor_key_verify(request, credential_id):
    actor = request.membership
    credential = vendor_keys.credential_get(team=actor.team, public_id=credential_id)
    if not actor.can_manage_members:
        raise PermissionDenied
    credential = vendor_keys.credential_verify(membership=actor, credential=credential)
    label = vendor_keys.registry.PROVIDER_LABELS[credential.vendor]
    if credential.verify_status == VerifyStatus.OK:
        messages.success(request, f"{label} accepted the key.")
    else:
        messages.error(request, f"{label}: {credential.verify_message or 'not verified'}")
    return redirect("accounts:vendor-keys")


@require_POST
@team_required
def vendor_key_remove(request, credential_id):
    actor = request.membership
    credential = vendor_keys.credential_get(team=actor.team, public_id=credential_id)
    if not actor.can_manage_members:
        raise PermissionDenied
    vendor_keys.credential_remove(membership=actor, credential=credential)
    label = vendor_keys.registry.PROVIDER_LABELS[credential.vendor]
    messages.success(request, f"{label} key removed; jobs already running with it finish with it.")
    return redirect("accounts:vendor-keys")
