"""Admin > System: a page on the admin site (wherever it is mounted), staff only."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from wanweb.ops import views

_admin_urls = admin.site.get_urls


def _get_urls():
    return [path("system/", admin.site.admin_view(views.system), name="system"), *_admin_urls()]


admin.site.get_urls = _get_urls
