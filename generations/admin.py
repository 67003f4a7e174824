from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from generations.models import Job, Project, Run, TeamRunSettings, VendorCall


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "created_by", "created_at", "archived_at"]
    list_filter = ["team", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug", "description", "team__name"]
    readonly_fields = ["public_id", "created_at", "updated_at"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs for operators to look at: their lifecycle belongs to the services, never to this form."""

    list_display = [
        "public_id",
        "team",
        "created_by",
        "provider",
        "model",
        "mode",
        "status",
        "cost",
        "created_at",
    ]
    list_filter = ["status", "provider", "mode", "team"]
    search_fields = ["prompt", "model", "vendor_job_id", "created_by__username", "team__name"]
    list_select_related = ["team", "created_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["ledger_link"]
    exclude = ["vendor_state", "poll_token", "submit_lease_until"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Cost", ordering="cost_estimate")
    def cost(self, job):
        if job.cost_final is not None:
            return f"${job.cost_final}"
        return f"~${job.cost_estimate}"

    @admin.display(description="Ledger")
    def ledger_link(self, job):
        url = reverse("admin:quotas_ledgerentry_changelist") + f"?job__id__exact={job.pk}"
        return format_html('<a href="{}">ledger entries of this job</a>', url)


@admin.register(VendorCall)
class VendorCallAdmin(admin.ModelAdmin):
    """The HTTP log of vendor calls, read-only. Its text was redacted before it was stored."""

    list_display = [
        "created_at",
        "job",
        "operation",
        "attempt",
        "method",
        "http_status",
        "latency_ms",
        "error",
    ]
    list_filter = ["operation", "http_status"]
    search_fields = ["job__public_id", "url", "error"]
    list_select_related = ["job"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TeamRunSettings)
class TeamRunSettingsAdmin(admin.ModelAdmin):
    """A team's failover policy for compare runs (generations/runs.py): off by default."""

    list_display = ["team", "failover_enabled", "provider_order"]
    list_filter = ["failover_enabled"]
    search_fields = ["team__name"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["public_id", "team", "project", "created_by", "mode", "failover", "created_at"]
    list_filter = ["mode", "failover", "team"]
    list_select_related = ["team", "project", "created_by"]
    readonly_fields = ["public_id", "spec", "created_at"]

    def has_add_permission(self, request):
        return False
