from django.urls import path

from wanweb.quotas import views

app_name = "quotas"

urlpatterns = [
    path("team/usage/", views.usage_page, name="usage"),
    path("team/usage/ledger.csv", views.usage_ledger_csv, name="usage-csv"),
]
