from django.urls import path

from generations import views, webhooks

app_name = "generations"

urlpatterns = [
    path("projects/", views.project_list, name="project-list"),
    path("projects/new/", views.project_create, name="project-create"),
    path("projects/<uuid:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<uuid:project_id>/edit/", views.project_edit, name="project-edit"),
    path("projects/<uuid:project_id>/archive/", views.project_archive, name="project-archive"),
    path("webhooks/<str:provider>/", webhooks.vendor_webhook, name="webhook"),
]
