from django.contrib import admin

from generations.models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "created_by", "created_at", "archived_at"]
    list_filter = ["team", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug", "description", "team__name"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
