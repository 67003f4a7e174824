from django.urls import path

from generations import gallery_views, run_views, share_views, studio_views, views, webhooks

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
    path("projects/<uuid:project_id>/uploads/", studio_views.upload_create, name="upload-create"),
    path("uploads/<uuid:upload_id>/thumb/", studio_views.upload_thumb, name="upload-thumb"),
    path("projects/<uuid:project_id>/presets/", studio_views.preset_create, name="preset-create"),
    path("presets/<uuid:preset_id>/delete/", studio_views.preset_delete, name="preset-delete"),
    path("projects/<uuid:project_id>/gallery/", views.gallery_page, name="gallery-page"),
    path("projects/<uuid:project_id>/gallery/changes/", views.gallery_changes, name="gallery-changes"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("jobs/<uuid:job_id>/retry/", views.job_retry, name="job-retry"),
    path("jobs/<uuid:job_id>/delete/", views.job_delete, name="job-delete"),
    path("files/<uuid:asset_id>/", views.asset_file, name="asset-file"),
    path("files/<uuid:asset_id>/thumb/", views.asset_file, {"variant": "thumb"}, name="asset-thumb"),
    path("projects/<uuid:project_id>/share-links/", share_views.share_list, name="share-list-project"),
    path(
        "projects/<uuid:project_id>/share-links/new/", share_views.share_create, name="share-create-project"
    ),
    path(
        "collections/<uuid:collection_id>/share-links/", share_views.share_list, name="share-list-collection"
    ),
    path(
        "collections/<uuid:collection_id>/share-links/new/",
        share_views.share_create,
        name="share-create-collection",
    ),
    path("share-links/<uuid:link_id>/revoke/", share_views.share_revoke, name="share-revoke"),
    path("gallery/", gallery_views.team_gallery, name="team-gallery"),
    path("gallery/outputs/<uuid:asset_id>/favourite/", gallery_views.asset_favourite, name="asset-favourite"),
    path("gallery/bulk/download/", gallery_views.bulk_download, name="bulk-download"),
    path("gallery/bulk/move/", gallery_views.bulk_move, name="bulk-move"),
    path("gallery/bulk/collect/", gallery_views.bulk_collect, name="bulk-collect"),
    path("gallery/bulk/delete/", gallery_views.bulk_delete, name="bulk-delete"),
    path("collections/", gallery_views.collection_list, name="collection-list"),
    path("collections/new/", gallery_views.collection_create, name="collection-create"),
    path("collections/<uuid:collection_id>/", gallery_views.collection_detail, name="collection-detail"),
    path("collections/<uuid:collection_id>/edit/", gallery_views.collection_edit, name="collection-edit"),
    path(
        "collections/<uuid:collection_id>/delete/", gallery_views.collection_delete, name="collection-delete"
    ),
    path(
        "collections/<uuid:collection_id>/remove/", gallery_views.collection_remove, name="collection-remove"
    ),
    path("projects/<uuid:project_id>/runs/", run_views.run_create, name="run-create"),
    path("projects/<uuid:project_id>/runs/estimate/", run_views.run_estimate, name="run-estimate"),
    path("runs/<uuid:run_id>/", run_views.run_detail, name="run-detail"),
    path("runs/<uuid:run_id>/changes/", run_views.run_changes, name="run-changes"),
    path("runs/<uuid:run_id>/winner/", run_views.run_winner, name="run-winner"),
    path("runs/<uuid:run_id>/vote/", run_views.run_vote, name="run-vote"),
    path("runs/<uuid:run_id>/share-links/", share_views.share_list, name="share-list-run"),
    path("runs/<uuid:run_id>/share-links/new/", share_views.share_create, name="share-create-run"),
    path("team/failover/", run_views.run_settings, name="run-settings"),
    path("inputs/<str:token>/", views.input_file, name="input-file"),
    path("webhooks/<str:provider>/", webhooks.vendor_webhook, name="webhook"),
    path("webhooks/<str:provider>/<uuid:credential_id>/", webhooks.vendor_webhook, name="webhook-team"),
]
