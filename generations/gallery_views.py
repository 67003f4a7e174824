"""The team gallery, favourites, collections and bulk actions (selectors/services in gallery.py)."""

from __future__ import annotations

from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from generations import gallery, selectors
from generations.models import JobStatus, Project
from providers.base import RequestValidationError
from wanweb import params
from wanweb.accounts.views import team_required
from wanweb.htmx import wants_fragment


class GalleryFilterForm(forms.Form):
    """The gallery's GET filters. Invalid values are dropped (a filter URL never errors)."""

    q = forms.CharField(required=False, max_length=200)
    project = forms.UUIDField(required=False)
    mode = forms.CharField(required=False, max_length=8)
    model = forms.CharField(required=False, max_length=120)
    provider = forms.CharField(required=False, max_length=20)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), (gallery.ACTIVE_FILTER, "Running or queued"), *JobStatus.choices],
    )
    creator = forms.CharField(required=False, max_length=150)
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)
    favourites = forms.BooleanField(required=False)
    sort = forms.ChoiceField(
        required=False, choices=[(k, label) for k, (label, _) in gallery.SORTS.items()], initial="newest"
    )

    def filters(self, *, collection=None) -> gallery.GalleryFilters:
        self.is_valid()
        data = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        data["q"] = (data.get("q") or "").strip()
        data["sort"] = data.get("sort") or "newest"
        data = {k: v for k, v in data.items() if v not in (None, "")}
        return gallery.GalleryFilters(**data, collection=collection)


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    return params.safe_next(target, host=request.get_host(), fallback=fallback)


# ---------------------------------------------------------------------------------------------
# The gallery page
# ---------------------------------------------------------------------------------------------


def _gallery_context(request, *, filters: gallery.GalleryFilters, base_url: str) -> dict:
    membership = request.membership
    team = membership.team
    if gallery.shows_active_jobs(filters):
        # Queued and running jobs have no outputs yet: list the jobs themselves.
        jobs = selectors.jobs_with_progress(gallery.active_jobs_for_team(team=team, filters=filters))
        return {
            "membership": membership,
            "filters": filters,
            "outputs": [],
            "active_jobs": jobs,
            "next_url": "",
            "base_url": base_url,
            "team_has_outputs": True,
        }
    outputs, next_after = gallery.gallery_page(
        team=team, user=request.user, filters=filters, after=request.GET.get("after")
    )
    query = request.GET.copy()
    query.pop("after", None)
    if next_after:
        query["after"] = str(next_after)
    return {
        "membership": membership,
        "filters": filters,
        "outputs": outputs,
        "next_url": f"{base_url}?{query.urlencode()}" if next_after else "",
        "base_url": base_url,
        # Only worth a query when the page is empty: which empty state to show.
        "team_has_outputs": bool(outputs) or gallery.team_has_outputs(team=team),
    }


def _bulk_context(request) -> dict:
    membership = request.membership
    return {
        "move_targets": gallery.move_targets(team=membership.team) if membership.can_edit else [],
        "collections": gallery.collection_list_for_team(team=membership.team) if membership.can_edit else [],
        "bulk_max": gallery.BULK_MAX,
    }


@require_GET
@vary_on_headers("HX-Request")
@team_required
def team_gallery(request):
    form = GalleryFilterForm(request.GET)
    filters = form.filters()
    base_url = reverse("generations:team-gallery")
    context = _gallery_context(request, filters=filters, base_url=base_url)
    template = "generations/gallery.html"
    if wants_fragment(request):
        # "Load more" appends cards; a filter change replaces the results.
        return render(
            request, template + ("#gallery-cards" if "after" in request.GET else "#gallery-results"), context
        )
    context.update(
        form=form,
        choices=gallery.gallery_choices(team=request.membership.team),
        sorts=[(k, label) for k, (label, _) in gallery.SORTS.items()],
        statuses=[(gallery.ACTIVE_FILTER, "Running or queued"), *JobStatus.choices],
        **_bulk_context(request),
    )
    return render(request, template, context)


@require_POST
@team_required
def asset_favourite(request, asset_id):
    asset = gallery.output_get_for_team(team=request.membership.team, user=request.user, public_id=asset_id)
    asset.is_favourite = gallery.favourite_toggle(user=request.user, asset=asset)
    asset.favourite_count += 1 if asset.is_favourite else -1
    if request.htmx:
        return render(request, "generations/gallery.html#star-button", {"output": asset})
    return redirect(_safe_next(request, reverse("generations:team-gallery")))


# ---------------------------------------------------------------------------------------------
# Bulk actions: POST ids=<asset public id>... (the gallery and collection pages' selection)
# ---------------------------------------------------------------------------------------------


def _selected(request):
    """The team's outputs among the posted ids; 404 when none of them is the team's."""
    try:
        ids = gallery.parse_ids(request.POST.getlist("ids"))
        outputs = gallery.outputs_for_bulk(team=request.membership.team, user=request.user, ids=ids)
    except gallery.BulkTooLarge as exc:
        raise _BadRequest(str(exc)) from None
    if not outputs:
        raise Http404("None of the selected outputs exists")
    return outputs


class _BadRequest(Exception):
    pass


def _bulk_response(request, message: str, *, level: str = "success") -> HttpResponse:
    """htmx: an empty 200 with events (the page toasts, clears the selection, reloads the grid)."""
    if request.htmx:
        response = HttpResponse(status=200)
        return trigger_client_event(
            trigger_client_event(response, "bulk-done", {"message": message, "level": level}),
            "gallery-changed",
        )
    getattr(messages, level if level != "danger" else "error")(request, message)
    return redirect(_safe_next(request, reverse("generations:team-gallery")))


def _skipped(result: gallery.BulkResult) -> str:
    if not result.skipped:
        return ""
    return f" {result.skipped} skipped: {'; '.join(result.reasons)}."


def _bulk_view(view):
    """Shared by the bulk endpoints: team required, POST only, a too-large selection is a 400."""

    @require_POST
    @team_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except _BadRequest as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain")

    return wrapper


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@_bulk_view
def bulk_download(request):
    """A zip of the selected outputs and a manifest.json, streamed as it is written."""
    outputs = _selected(request)
    label = request.POST.get("label") or request.membership.team.name
    response = StreamingHttpResponse(gallery.zip_stream(outputs), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{gallery.zip_filename(label=label)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@_bulk_view
def bulk_move(request):
    outputs = _selected(request)
    membership = request.membership
    if not membership.can_edit:
        raise PermissionDenied
    try:
        project = gallery.move_targets(team=membership.team).get(public_id=request.POST.get("project"))
    except (Project.DoesNotExist, ValueError, ValidationError):
        return _bulk_response(request, "Choose a project to move the outputs to.", level="danger")
    try:
        result = gallery.outputs_move(membership=membership, assets=outputs, project=project)
    except RequestValidationError as exc:
        return _bulk_response(request, " ".join(m for ms in exc.errors.values() for m in ms), level="danger")
    message = f"Moved {_plural(result.done, 'job')} to “{project.name}”." + _skipped(result)
    return _bulk_response(request, message, level="warning" if result.skipped else "success")


@_bulk_view
def bulk_collect(request):
    """Add the selected outputs to a collection, or to a new one named in `new_collection`."""
    outputs = _selected(request)
    membership = request.membership
    if not membership.can_edit:
        raise PermissionDenied
    new_name = request.POST.get("new_collection", "").strip()[:120]
    if new_name:
        collection = gallery.collection_create(membership=membership, name=new_name)
    else:
        try:
            collection = gallery.collection_get_for_team(
                team=membership.team, public_id=request.POST.get("collection")
            )
        except Http404:
            return _bulk_response(request, "Choose a collection, or name a new one.", level="danger")
    added = gallery.collection_add(membership=membership, collection=collection, assets=outputs)
    already = len(outputs) - added
    message = f"Added {_plural(added, 'output')} to “{collection.name}”." + (
        f" {already} already there." if already else ""
    )
    return _bulk_response(request, message)


@_bulk_view
def bulk_delete(request):
    outputs = _selected(request)
    membership = request.membership
    if not membership.can_edit:
        raise PermissionDenied
    result = gallery.outputs_delete(membership=membership, assets=outputs)
    message = f"Deleted {_plural(result.done, 'job')} and their files." + _skipped(result)
    return _bulk_response(request, message, level="warning" if result.skipped else "success")


# ---------------------------------------------------------------------------------------------
# Collections
# ---------------------------------------------------------------------------------------------


class CollectionForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Client picks", "autocomplete": "off"}),
    )
    description = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What is it for? (optional)"}),
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the collection a name.")
        return name


@require_GET
@vary_on_headers("HX-Request")
@team_required
def collection_list(request):
    membership = request.membership
    context = {
        "membership": membership,
        "collections": gallery.collection_list_for_team(team=membership.team),
        "form": CollectionForm(),
    }
    template = "generations/collection_list.html"
    if wants_fragment(request):
        template += "#collection-listing"
    return render(request, template, context)


@require_POST
@team_required
def collection_create(request):
    membership = request.membership
    if not membership.can_edit:
        raise PermissionDenied
    form = CollectionForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return render(request, "generations/collection_list.html#collection-form", {"form": form})
        messages.error(request, "The collection was not created: give it a name.")
        return redirect("generations:collection-list")
    collection = gallery.collection_create(membership=membership, **form.cleaned_data)
    if request.htmx:
        collection.item_count, collection.preview_items = 0, []
        response = render(
            request,
            "generations/collection_list.html#collection-created",
            {"form": CollectionForm(), "collection": collection, "membership": membership},
        )
        return trigger_client_event(response, "collection-created", {"name": collection.name})
    messages.success(request, f"Collection “{collection.name}” created.")
    return redirect("generations:collection-detail", collection_id=collection.public_id)


@require_GET
@vary_on_headers("HX-Request")
@team_required
def collection_detail(request, collection_id):
    membership = request.membership
    collection = gallery.collection_get_for_team(team=membership.team, public_id=collection_id)
    filters = gallery.GalleryFilters(collection=collection)
    base_url = reverse("generations:collection-detail", args=[collection.public_id])
    context = _gallery_context(request, filters=filters, base_url=base_url)
    context.update(collection=collection, can_change=gallery.can_change_collection(membership, collection))
    if wants_fragment(request):
        fragment = "#gallery-cards" if "after" in request.GET else "#gallery-results"
        return render(request, "generations/gallery.html" + fragment, context)
    context.update(**_bulk_context(request))
    return render(request, "generations/collection_detail.html", context)


@require_http_methods(["GET", "POST"])
@team_required
def collection_edit(request, collection_id):
    membership = request.membership
    collection = gallery.collection_get_for_team(team=membership.team, public_id=collection_id)
    if not gallery.can_change_collection(membership, collection):
        raise PermissionDenied
    context = {"collection": collection, "membership": membership, "can_change": True}
    if request.method == "GET":
        form = CollectionForm(initial={"name": collection.name, "description": collection.description})
    else:
        form = CollectionForm(request.POST)
    if request.method == "GET" or not form.is_valid():
        context["form"] = form
        if request.htmx:
            return render(request, "generations/collection_detail.html#collection-edit-form", context)
        # Without JS: the whole collection page with the form in place of its header.
        base_url = reverse("generations:collection-detail", args=[collection.public_id])
        filters = gallery.GalleryFilters(collection=collection)
        context.update(
            _gallery_context(request, filters=filters, base_url=base_url), **_bulk_context(request)
        )
        return render(request, "generations/collection_detail.html", context)
    gallery.collection_update(membership=membership, collection=collection, **form.cleaned_data)
    if request.htmx:
        return render(request, "generations/collection_detail.html#collection-header", context)
    messages.success(request, "Collection saved.")
    return redirect("generations:collection-detail", collection_id=collection.public_id)


@require_POST
@team_required
def collection_delete(request, collection_id):
    membership = request.membership
    collection = gallery.collection_get_for_team(team=membership.team, public_id=collection_id)
    gallery.collection_delete(membership=membership, collection=collection)
    messages.success(
        request, f"Collection “{collection.name}” deleted. Its outputs are still in the gallery."
    )
    url = reverse("generations:collection-list")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@_bulk_view
def collection_remove(request, collection_id):
    """Take the posted outputs (one from a card's button, or the selection) out of the collection."""
    membership = request.membership
    collection = gallery.collection_get_for_team(team=membership.team, public_id=collection_id)
    if not membership.can_edit:
        raise PermissionDenied
    outputs = _selected(request)
    removed, refused = gallery.collection_remove(membership=membership, collection=collection, assets=outputs)
    message = f"Removed {_plural(removed, 'output')} from “{collection.name}”." + (
        f" {refused} skipped: only the member who added them, the collection's creator or an admin can."
        if refused
        else ""
    )
    request.POST = request.POST.copy()
    request.POST.setdefault("next", reverse("generations:collection-detail", args=[collection.public_id]))
    return _bulk_response(request, message, level="warning" if refused else "success")
