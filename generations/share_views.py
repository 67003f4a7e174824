"""Share links: the team's panel (create, list, revoke) and the public, read-only gallery at /s/<token>/."""

from __future__ import annotations

from functools import wraps

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotFound
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from generations import run_selectors, selectors, sharing
from generations.files import stored_file_response
from wanweb import params
from wanweb.accounts.views import team_required
from wanweb.htmx import wants_fragment


class ShareLinkForm(forms.Form):
    label = forms.CharField(
        max_length=120, required=False, help_text="Only your team sees it, e.g. who the link is for."
    )
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=sharing.MAX_EXPIRY_DAYS,
        required=False,
        help_text="Empty: until revoked.",
    )
    allow_downloads = forms.BooleanField(label="Allow downloads", required=False)


def _form(data=None) -> ShareLinkForm:
    # A prefix keeps the ids apart from the other forms on the project page.
    return ShareLinkForm(data, prefix="share")


# ---------------------------------------------------------------------------------------------
# The team side: owners and admins only (members and viewers of the team get 403, others 404)
# ---------------------------------------------------------------------------------------------


def _target_for(request, project_id=None, collection_id=None, run_id=None):
    """(project, collection, run, membership) for the URL's one target; 404 outside the team, 403
    below admin."""
    project = collection = run = None
    if project_id is not None:
        project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    elif run_id is not None:
        run, membership = run_selectors.run_get_for_user(user=request.user, public_id=run_id)
    else:
        collection, membership = sharing.collection_get_for_user(user=request.user, public_id=collection_id)
    if not membership.can_manage_members:
        raise PermissionDenied
    return project, collection, run, membership


def _urls(project, collection, run) -> tuple[str, str]:
    """The panel's list and create URLs for its one target."""
    if project is not None:
        kind, target = "project", project
    elif run is not None:
        kind, target = "run", run
    else:
        kind, target = "collection", collection
    return (
        reverse(f"generations:share-list-{kind}", args=[target.public_id]),
        reverse(f"generations:share-create-{kind}", args=[target.public_id]),
    )


def _panel_context(*, project, collection, run=None, membership, form=None, **extra) -> dict:
    list_url, create_url = _urls(project, collection, run)
    return {
        "share_project": project,
        "share_collection": collection,
        "share_run": run,
        "share_target": project or collection or run,
        "membership": membership,
        "links": sharing.share_link_list_for_target(project=project, collection=collection, run=run),
        "form": form or _form(),
        "list_url": list_url,
        "create_url": create_url,
        **extra,
    }


def _render_panel(request, context) -> HttpResponse:
    template = "generations/share_links.html"
    if wants_fragment(request):
        template += "#share-panel"
    return render(request, template, context)


@require_GET
@team_required
def share_list(request, project_id=None, collection_id=None, run_id=None):
    project, collection, run, membership = _target_for(request, project_id, collection_id, run_id)
    return _render_panel(
        request, _panel_context(project=project, collection=collection, run=run, membership=membership)
    )


@require_POST
@team_required
def share_create(request, project_id=None, collection_id=None, run_id=None):
    project, collection, run, membership = _target_for(request, project_id, collection_id, run_id)
    form = _form(request.POST)
    if not form.is_valid():
        context = _panel_context(
            project=project, collection=collection, run=run, membership=membership, form=form
        )
        return _render_panel(request, context)
    link, token = sharing.share_link_create(
        actor=membership, project=project, collection=collection, run=run, **form.cleaned_data
    )
    context = _panel_context(
        project=project,
        collection=collection,
        run=run,
        membership=membership,
        new_link=link,
        new_share_url=request.build_absolute_uri(reverse("share:gallery", args=[token])),
    )
    # Never a redirect here: the raw URL exists only in this response.
    return _render_panel(request, context)


@require_POST
@team_required
def share_revoke(request, link_id):
    link, membership = sharing.share_link_get_for_user(user=request.user, public_id=link_id)
    if not membership.can_manage_members:
        raise PermissionDenied
    sharing.share_link_revoke(actor=membership, link=link)
    if not request.htmx:
        return redirect(_urls(link.project, link.collection, link.run)[0])
    context = _panel_context(
        project=link.project, collection=link.collection, run=link.run, membership=membership
    )
    return _render_panel(request, context)


# ---------------------------------------------------------------------------------------------
# The public side: no login, read-only, exactly what one active link shares
# ---------------------------------------------------------------------------------------------


def _public_headers(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    # The token is in the URL: no-referrer keeps it out of every request the page or a file makes.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def public_page(view):
    """An HTML page of a share link: never cached (a revoke shows at the next load), and a 404 page
    that says the same for a revoked, expired, unknown or mistyped link."""

    @wraps(view)
    @never_cache
    def wrapper(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            response = render(request, "generations/share_gone.html", status=404)
        return _public_headers(response)

    return wrapper


def public_file(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            response = HttpResponseNotFound("Not found", content_type="text/plain")
            response["Cache-Control"] = "no-store"
        return _public_headers(response)

    return wrapper


def _og_image_asset(assets):
    """The first shown file with a preview image: a video's poster frame, or an image."""
    for asset in assets:
        if asset.thumbnail or asset.kind == "image":
            return asset
    return None


@require_GET
@public_page
def share_gallery(request, token):
    link = sharing.share_link_get_active(token=token)
    if link.run_id is not None:
        return _share_run(request, link, token)
    page = sharing.shared_asset_page(link=link, number=request.GET.get("page"))
    sharing.share_link_record_view(link=link)
    target = link.project or link.collection
    og_asset = _og_image_asset(page.object_list)
    count = page.paginator.count
    context = {
        "link": link,
        "token": token,
        "target": target,
        "page": page,
        "og_title": target.name,
        "og_description": target.description
        or f"{count} image{'s' if count != 1 else ''} and video{'s' if count != 1 else ''}, shared from wanweb.",
        "og_image": request.build_absolute_uri(reverse("share:thumb", args=[token, og_asset.public_id]))
        if og_asset
        else "",
        "og_url": request.build_absolute_uri(),
    }
    return render(request, "generations/share_gallery.html", context)


def _share_run(request, link, token) -> HttpResponse:
    """A run's link: its grid, read-only (no votes, no winner buttons, no vendor error texts)."""
    cells = sharing.shared_run_cells(link=link)
    sharing.share_link_record_view(link=link)
    rows, cols = run_selectors.run_grid(run=link.run, cells=cells)
    og_asset = _og_image_asset(a for c in cells if c.job is not None for a in getattr(c.job, "outputs", []))
    context = {
        "link": link,
        "token": token,
        "run": link.run,
        "rows": rows,
        "cols": cols,
        "cells": cells,
        "og_title": link.run.name,
        "og_description": f"The same request across {len(rows)} row{'s' if len(rows) != 1 else ''} "
        f"and {len(cols)} seed{'s' if len(cols) != 1 else ''}, side by side, shared from wanweb.",
        "og_image": request.build_absolute_uri(reverse("share:thumb", args=[token, og_asset.public_id]))
        if og_asset
        else "",
        "og_url": request.build_absolute_uri(),
    }
    return render(request, "generations/share_run.html", context)


@require_GET
@public_page
def share_output(request, token, asset_id):
    link = sharing.share_link_get_active(token=token)
    asset = sharing.shared_asset_get(link=link, public_id=asset_id)
    sharing.share_link_record_view(link=link)
    target = link.target
    context = {"link": link, "token": token, "target": target, "asset": asset, "job": asset.job}
    return render(request, "generations/share_output.html", context)


@require_GET
@public_file
def share_file(request, token, asset_id, variant: str = "file"):
    """One shared file (or its preview), the same way generations.views.asset_file serves the team's."""
    link = sharing.share_link_get_active(token=token)
    asset = sharing.shared_asset_get(link=link, public_id=asset_id)
    download = params.get_flag(request.GET, "download")
    if download and not link.allow_downloads:
        raise Http404("Downloads are off for this link")
    field = asset.thumbnail if variant == "thumb" and asset.thumbnail else asset.file
    # Stored types were sniffed from the bytes when saved; thumbnails are always our own WebP.
    content_type = "image/webp" if field is asset.thumbnail else asset.content_type
    download_name = None
    if download:
        download_name = f"wanweb-{asset.public_id}.{asset.file.name.rsplit('.', 1)[-1]}"
    # private: no shared cache (a CDN, a proxy) may keep a copy past a revoke. A short max-age, not
    # no-store: a visitor scrolling the grid or replaying a video does not fetch it again and again,
    # and once revoked the page 404s at the next load, so a stale copy lives at most 5 minutes in a
    # browser that already had it.
    return stored_file_response(
        field, content_type=content_type, download_name=download_name, cache_control="private, max-age=300"
    )


# Mounted at /s/ by wanweb/urls.py, namespace "share".
public_urlpatterns = [
    path("<str:token>/", share_gallery, name="gallery"),
    path("<str:token>/o/<uuid:asset_id>/", share_output, name="output"),
    path("<str:token>/files/<uuid:asset_id>/", share_file, name="file"),
    path("<str:token>/files/<uuid:asset_id>/thumb/", share_file, {"variant": "thumb"}, name="thumb"),
]
