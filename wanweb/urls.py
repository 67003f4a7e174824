from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from generations import share_views
from generations import views as generation_views
from wanweb.api.api import api
from wanweb.api.api import unknown_path as api_unknown_path
from wanweb.ops import views as ops_views

admin.site.site_header = "wanweb administration"
admin.site.site_title = "wanweb admin"

# Our pages with a next step, also under DEBUG (wanweb.errors.FriendlyErrorPagesMiddleware).
handler404 = "wanweb.errors.not_found"
handler403 = "wanweb.errors.permission_denied"

urlpatterns = [
    path("", generation_views.home, name="home"),
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("favicon.ico", generation_views.favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("account/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("", include("wanweb.accounts.urls")),
    path("", include("wanweb.quotas.urls")),
    path("", include("generations.urls")),
    path("", include("wanweb.api.urls")),
    path("api/v1/", api.urls),
    path("api/v1/<path:rest>", api_unknown_path),  # JSON 404s, not the studio's HTML page
    path("s/", include((share_views.public_urlpatterns, "share"))),
    path(settings.ADMIN_URL, admin.site.urls),  # ADMIN_URL, default admin/
]
