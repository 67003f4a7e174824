"""The API tokens page and each project's webhooks page (endpoints, secrets, delivery log)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from generations import selectors as generation_selectors
from providers.base import RequestValidationError
from wanweb.accounts.views import team_required
from wanweb.api import selectors, services, webhooks
from wanweb.api.forms import TokenForm, WebhookForm


@require_http_methods(["GET", "POST"])
@team_required
def token_list(request):
    membership = request.membership
    form = TokenForm(request.POST or None)
    new_token = raw = None
    if request.method == "POST" and form.is_valid():
        new_token, raw = services.token_create(
            membership=membership,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
        form = TokenForm()
    context = {
        "actor": membership,
        "form": form,
        "tokens": selectors.tokens_for(membership=membership),
        "new_token": new_token,
        "raw_token": raw,
    }
    response = render(request, "api/token_list.html", context)
    if raw:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@team_required
def token_revoke(request, token_id):
    token = selectors.token_get(membership=request.membership, public_id=token_id)
    services.token_revoke(membership=request.membership, token=token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("api-pages:token-list")


def _project(request, project_id):
    project, membership = generation_selectors.project_get_for_user(user=request.user, public_id=project_id)
    return project, membership


@require_http_methods(["GET", "POST"])
@team_required
def webhook_list(request, project_id):
    project, membership = _project(request, project_id)
    form = WebhookForm(request.POST or None)
    secret = created = None
    if request.method == "POST":
        if not membership.can_edit:
            raise PermissionDenied
        if form.is_valid():
            try:
                created = services.endpoint_create(
                    membership=membership,
                    project=None if form.cleaned_data["team_wide"] else project,
                    url=form.cleaned_data["url"],
                    events=form.cleaned_data["events"],
                )
            except RequestValidationError as exc:
                for name, errors in exc.errors.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                secret = webhooks.secret_for_salt(created.secret_salt)
                form = WebhookForm()
    return _render(request, project, membership, form, created=created, secret=secret)


def _render(request, project, membership, form, *, created=None, secret=None):
    context = {
        "project": project,
        "actor": membership,
        "form": form,
        "endpoints": selectors.endpoints_for_project(project=project),
        "deliveries": selectors.deliveries_for_project(project=project),
        "shown_endpoint": created,
        "secret": secret,
    }
    response = render(request, "api/webhook_list.html", context)
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@team_required
def webhook_rotate(request, project_id, endpoint_id):
    project, membership = _project(request, project_id)
    endpoint = selectors.endpoint_get(membership=membership, public_id=endpoint_id)
    services.endpoint_rotate_secret(membership=membership, endpoint=endpoint)
    secret = webhooks.secret_for_salt(endpoint.secret_salt)
    return _render(request, project, membership, WebhookForm(), created=endpoint, secret=secret)


@require_POST
@team_required
def webhook_delete(request, project_id, endpoint_id):
    project, membership = _project(request, project_id)
    endpoint = selectors.endpoint_get(membership=membership, public_id=endpoint_id)
    services.endpoint_delete(membership=membership, endpoint=endpoint)
    messages.success(request, "Webhook removed.")
    return redirect("api-pages:webhook-list", project_id=project.public_id)


@require_POST
@team_required
def delivery_resend(request, project_id, msg_id):
    project, membership = _project(request, project_id)
    if not membership.can_edit:
        raise PermissionDenied
    delivery = selectors.delivery_get(membership=membership, msg_id=msg_id)
    if delivery.project_id != project.pk:
        raise PermissionDenied
    webhooks.send_again(delivery)
    messages.success(request, "Sending again.")
    return redirect("api-pages:webhook-list", project_id=project.public_id)
