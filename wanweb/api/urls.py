from django.urls import path

from wanweb.api import views

app_name = "api-pages"

urlpatterns = [
    path("team/api-tokens/", views.token_list, name="token-list"),
    path("team/api-tokens/<uuid:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("projects/<uuid:project_id>/webhooks/", views.webhook_list, name="webhook-list"),
    path(
        "projects/<uuid:project_id>/webhooks/<uuid:endpoint_id>/rotate/",
        views.webhook_rotate,
        name="webhook-rotate",
    ),
    path(
        "projects/<uuid:project_id>/webhooks/<uuid:endpoint_id>/delete/",
        views.webhook_delete,
        name="webhook-delete",
    ),
    path(
        "projects/<uuid:project_id>/webhooks/deliveries/<str:msg_id>/resend/",
        views.delivery_resend,
        name="delivery-resend",
    ),
]
