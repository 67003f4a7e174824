from django.urls import path

from generations import views, webhooks

app_name = "generations"

urlpatterns = [
    path("projects/", views.project_list, name="project-list"),
    path("projects/new/", views.project_create, name="project-create"),
    path("projects/<uuid:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<uuid:project_id>/edit/", views.project_edit, name="project-edit"),
    path("projects/<uuid:project_id>/archive/", views.project_archive, name="project-archive"),
    path("projects/<uuid:project_id>/form/", views.generation_form, name="generation-form"),
    path("projects/<uuid:project_id>/estimate/", views.generation_estimate, name="generation-estimate"),
    path("projects/<uuid:project_id>/jobs/", views.job_create, name="job-create"),
    path("projects/<uuid:project_id>/gallery/", views.gallery_page, name="gallery-page"),
    path("projects/<uuid:project_id>/gallery/changes/", views.gallery_changes, name="gallery-changes"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("jobs/<uuid:job_id>/retry/", views.job_retry, name="job-retry"),
    path("jobs/<uuid:job_id>/delete/", views.job_delete, name="job-delete"),
    path("files/<uuid:asset_id>/", views.asset_file, name="asset-file"),
    path("files/<uuid:asset_id>/thumb/", views.asset_file, {"variant": "thumb"}, name="asset-thumb"),
    path("webhooks/<str:provider>/", webhooks.vendor_webhook, name="webhook"),
]
