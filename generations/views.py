from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from generations import selectors, services, studio, uploads
from generations.files import stored_file_response
from generations.forms import GenerationForm, ProjectForm
from providers.base import RequestValidationError
from wanweb import params
from wanweb.accounts.views import team_required
from wanweb.htmx import wants_fragment
from wanweb.quotas.services import QuotaExceeded
from wanweb.uploads import upload_refusal


@require_GET
@team_required
def project_list(request):
    membership = request.membership
    archived = params.get_flag(request.GET, "archived")
    context = {
        "membership": membership,
        "projects": selectors.project_list_for_team(team=membership.team, archived=archived),
        "archived": archived,
        "form": ProjectForm(),
    }
    template = "generations/project_list.html"
    if wants_fragment(request):
        template += "#project-listing"
    return render(request, template, context)


@require_POST
@team_required
def project_create(request):
    membership = request.membership
    if not membership.can_edit:
        raise PermissionDenied
    form = ProjectForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return render(
                request,
                "generations/project_list.html#project-form",
                {"form": form, "membership": membership},
            )
        messages.error(
            request,
            "The project was not created: " + " ".join(e for errs in form.errors.values() for e in errs),
        )
        return redirect("generations:project-list")
    project = services.project_create(membership=membership, **form.cleaned_data)
    if request.htmx:
        response = render(
            request,
            "generations/project_list.html#project-created",
            {"form": ProjectForm(), "project": project, "membership": membership},
        )
        return trigger_client_event(response, "project-created", {"name": project.name})
    messages.success(request, f"Project “{project.name}” created.")
    return redirect("generations:project-detail", project_id=project.public_id)


@require_GET
def home(request):
    if request.user.is_authenticated:
        return redirect("generations:project-list")
    return redirect("login")


@require_GET
@team_required
def project_detail(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    form = None
    if membership.can_edit and not project.is_archived:
        initial = studio.remix_initial(request, project) or studio.use_initial(request, project)
        form = studio.build_form(request, membership, initial=initial or studio.remembered(request))
    return render(
        request, "generations/project_detail.html", _project_page_context(project, membership, form)
    )


def _project_page_context(project, membership, form) -> dict:
    since = timezone.now()
    jobs, next_cursor = selectors.gallery_page(project=project)
    context = studio.form_context(project, membership, form) if form is not None else {}
    selectors.jobs_with_progress(jobs)
    return {
        **context,
        "favourite_ids": selectors.favourite_ids(user_id=membership.user_id, jobs=jobs),
        "project": project,
        "membership": membership,
        "form": form,
        "jobs": jobs,
        "next_cursor": next_cursor,
        "since": since.isoformat(),
        "polling": any(job.is_active for job in jobs) or selectors.project_has_active_jobs(project=project),
    }


@require_http_methods(["GET", "POST"])
@team_required
def project_edit(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    if not membership.can_edit:
        raise PermissionDenied
    if request.method == "GET":
        form = ProjectForm(initial={"name": project.name, "description": project.description})
        if wants_fragment(request):
            return render(
                request,
                "generations/project_detail.html#project-edit-form",
                {"project": project, "form": form},
            )
        return render(
            request,
            "generations/project_edit.html",
            {"project": project, "form": form, "membership": membership},
        )
    form = ProjectForm(request.POST)
    if not form.is_valid():
        template = (
            "generations/project_detail.html#project-edit-form"
            if request.htmx
            else "generations/project_edit.html"
        )
        return render(request, template, {"project": project, "form": form, "membership": membership})
    services.project_update(membership=membership, project=project, **form.cleaned_data)
    if request.htmx:
        return render(
            request,
            "generations/project_detail.html#project-header",
            {"project": project, "membership": membership},
        )
    messages.success(request, "Project saved.")
    return redirect("generations:project-detail", project_id=project.public_id)


@require_POST
@team_required
def project_archive(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    archived = params.get_flag(request.POST, "archived", default=True)
    services.project_set_archived(membership=membership, project=project, archived=archived)
    messages.success(request, f"“{project.name}” {'archived' if archived else 'restored'}.")
    if request.htmx:
        return render(
            request,
            "generations/project_detail.html#project-header",
            {"project": project, "membership": membership},
        )
    return redirect("generations:project-detail", project_id=project.public_id)


@require_GET
def favicon(request) -> HttpResponse:
    """/favicon.ico, which browsers ask for on pages that name no icon (the admin, raw files)."""
    from django.templatetags.static import static

    return redirect(static("img/favicon.ico"))


# ---------------------------------------------------------------------------------------------
# Generation: the form, the gallery and its live refresh, job detail and actions, media files
# ---------------------------------------------------------------------------------------------


FORM_TEMPLATE = "generations/studio_form.html"


@require_GET
@team_required
def generation_form(request, project_id):
    """The form for another provider/mode/model or a preset (the pickers swap it over HTMX)."""
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    if not membership.can_edit:
        raise PermissionDenied
    current = studio.initial_from_query(request.GET)
    initial = studio.preset_initial(request, current) or current
    form = studio.build_form(request, membership, initial=initial)
    studio.remember(request, form)
    return render(request, FORM_TEMPLATE + "#generation-form", studio.form_context(project, membership, form))


@require_GET
@team_required
def generation_estimate(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    form = GenerationForm(request.GET, providers=services.available_providers(project.team))
    return render(request, FORM_TEMPLATE + "#cost-estimate", {"estimate": studio.estimate(form)})


@require_POST
@team_required
def job_create(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    if not membership.can_edit:
        raise PermissionDenied
    refusal = upload_refusal(request)
    if refusal is not None:
        # Over the request's limits: none of the files is read or probed, the form says why.
        form = studio.build_form(request, membership, data=request.POST, files=None)
        form.refuse_uploads(refusal.message, field_name=refusal.field_name)
    else:
        form = studio.build_form(request, membership, data=request.POST, files=request.FILES)
    job = None
    if refusal is None and form.is_valid():
        try:
            job = services.job_create(
                membership=membership,
                project=project,
                provider=form.spec.provider,
                model=form.spec.model_id,
                mode=form.spec.mode.value,
                prompt=form.cleaned_data["prompt"],
                params=form.params(),
                uploads=form.uploads,
                submit_token=form.cleaned_data.get("submit_token") or "",
            )
        except RequestValidationError as exc:
            form.add_validation_errors(exc.errors)
        except QuotaExceeded as exc:
            form.add_error(None, exc.message)
    if job is None:
        studio.keep_refused_uploads(request, membership, form)
        if not request.htmx:
            messages.error(request, form.refusal_message())
            return render(
                request, "generations/project_detail.html", _project_page_context(project, membership, form)
            )
        context = {**studio.form_context(project, membership, form), "refused": form.refusal_message()}
        return render(request, FORM_TEMPLATE + "#generation-form", context)
    deduplicated = getattr(job, "deduplicated", False)
    if not deduplicated:
        uploads.pending_uploads_delete([r.pending for r in form.used_refs if r.pending is not None])
    studio.remember(request, form)
    if not request.htmx:
        messages.success(request, "Job queued.")
        return redirect("generations:project-detail", project_id=project.public_id)
    # Keep every choice and input for the next run (people iterate on a prompt).
    keep = {k: v for k, v in request.POST.items() if k not in ("csrfmiddlewaretoken", "submit_token")}
    keep = {k: v for k, v in keep.items() if not k.endswith("_ref")}
    fresh = studio.build_form(request, membership, initial={**keep, **studio.inputs_after_success(job)})
    context = {
        **studio.form_context(project, membership, fresh),
        "job": job,
        "deduplicated": deduplicated,
        "since": timezone.now().isoformat(),
        "polling": True,
        "running_jobs": selectors.team_active_job_count(team=project.team),
    }
    selectors.jobs_with_progress([job])
    response = render(request, "generations/project_detail.html#job-created", context)
    return trigger_client_event(response, "job-created", {"id": str(job.public_id), "repeated": deduplicated})


@require_GET
@team_required
def gallery_page(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    before = params.get_uuid(request.GET, "before")
    if before is None and request.GET.get("before"):
        # Not a cursor we handed out: nothing to append (htmx swaps no 4xx body).
        return HttpResponseBadRequest("before must be a job id")
    jobs, next_cursor = selectors.gallery_page(project=project, before=before)
    selectors.jobs_with_progress(jobs)
    context = {
        "project": project,
        "membership": membership,
        "jobs": jobs,
        "next_cursor": next_cursor,
        "favourite_ids": selectors.favourite_ids(user_id=request.user.pk, jobs=jobs),
    }
    return render(request, "generations/project_detail.html#gallery-page", context)


CHANGE_LOOKBACK = timedelta(seconds=10)


@require_GET
@team_required
def gallery_changes(request, project_id):
    """The gallery's one refresh request per interval, whatever the number of running jobs.

    Two paces: every 2 s while a job of the project is active, every 15 s (`idle=1`, paused by
    static/js/live.js while the tab is hidden) while none is, so jobs started by teammates, the CLI
    or another tab appear. Nothing changed and the pace is right: 204, htmx leaves the page alone.
    Otherwise the changed cards (out of band) and a poller at the pace the project now needs.
    """
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    since = params.get_datetime(request.GET, "since") or timezone.now()
    idle = request.GET.get("idle") == "1"
    now = timezone.now()
    # Ask "is anything still running?" before reading the changes: a job that finishes in
    # between is then in the changes, never lost behind a poller that has stopped.
    polling = selectors.project_has_active_jobs(project=project)
    # A row is stamped when its UPDATE runs but seen only when its transaction commits: look back
    # a little, so a change committed just after the previous answer is not skipped. Cards
    # replace themselves in place, so sending one twice is harmless.
    changed = selectors.gallery_changes(project=project, since=since - CHANGE_LOOKBACK)
    if not changed and polling != idle:
        return HttpResponse(status=204)
    selectors.jobs_with_progress(changed)
    context = {
        "project": project,
        "membership": membership,
        "changed": changed,
        "since": now.isoformat(),
        "polling": polling,
        "running_jobs": selectors.team_active_job_count(team=project.team),
    }
    return render(request, "generations/project_detail.html#gallery-changes", context)


@require_GET
@team_required
def job_detail(request, job_id):
    job, membership = selectors.job_get_for_user(user=request.user, public_id=job_id)
    selectors.jobs_with_progress([job])
    context = {
        "job": job,
        "membership": membership,
        "inputs": job.assets.filter(role="input").order_by("index"),
        "outputs": job.assets.filter(role="output").order_by("index"),
        "timeline": _timeline(job),
    }
    template = "generations/job_detail.html"
    if wants_fragment(request):
        template += "#job-live"
    return render(request, template, context)


def _timeline(job) -> list[dict]:
    """Status events and vendor calls, merged in time order."""
    items = [
        {"at": e.created_at, "kind": "event", "status": e.status, "text": e.message} for e in job.events.all()
    ]
    items += [
        {
            "at": c.created_at,
            "kind": "call",
            "status": "",
            "text": f"{c.operation} {c.method} {c.url}".strip(),
            "http_status": c.http_status,
            "latency_ms": c.latency_ms,
            "error": c.error,
        }
        for c in job.vendor_calls.all()
    ]
    return sorted(items, key=lambda item: item["at"])


@require_POST
@team_required
def job_cancel(request, job_id):
    job, membership = selectors.job_get_for_user(user=request.user, public_id=job_id)
    if services.job_cancel(membership=membership, job=job):
        messages.success(request, "Job canceled.")
    else:
        messages.info(request, "The job had already finished.")
    return _back_to_job(request, job)


@require_POST
@team_required
def job_retry(request, job_id):
    job, membership = selectors.job_get_for_user(user=request.user, public_id=job_id)
    try:
        new_job = services.job_retry(membership=membership, job=job)
    except RequestValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.errors.values() for m in ms))
        return _back_to_job(request, job)
    except QuotaExceeded as exc:
        messages.error(request, exc.message)
        return _back_to_job(request, job)
    messages.success(request, "Retrying as a new job.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("generations:job-detail", args=[new_job.public_id]))
    return redirect("generations:job-detail", job_id=new_job.public_id)


@require_POST
@team_required
def job_delete(request, job_id):
    job, membership = selectors.job_get_for_user(user=request.user, public_id=job_id)
    project = job.project
    try:
        services.job_delete(membership=membership, job=job)
    except RequestValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.errors.values() for m in ms))
        return _back_to_job(request, job)
    messages.success(request, "Job deleted.")
    url = reverse("generations:project-detail", args=[project.public_id])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _back_to_job(request, job):
    url = reverse("generations:job-detail", args=[job.public_id])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@team_required
def asset_file(request, asset_id, variant: str = "file"):
    """A job's file, for members of its team only; the Content-Type was sniffed from the bytes."""
    asset = selectors.asset_get_for_user(user=request.user, public_id=asset_id)
    field = asset.thumbnail if variant == "thumb" and asset.thumbnail else asset.file
    content_type = "image/webp" if field is asset.thumbnail else asset.content_type
    download_name = None
    if params.get_flag(request.GET, "download"):
        ext = asset.file.name.rsplit(".", 1)[-1]
        download_name = f"wanweb-{asset.job.public_id}-{asset.index}.{ext}"
    return stored_file_response(field, content_type=content_type, download_name=download_name)


@require_GET
def input_file(request, token):
    """An input file for a vendor to fetch, by signed expiring URL (no login: the signature is the check)."""
    from generations.files import input_asset_public_id
    from generations.models import Asset

    public_id = input_asset_public_id(token)
    asset = Asset.objects.filter(public_id=public_id, role="input").first()
    if asset is None:
        raise Http404("No such file")
    response = stored_file_response(
        asset.file, content_type=asset.content_type, cache_control="private, max-age=300"
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
