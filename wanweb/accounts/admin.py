"""Django admin for operators: teams, members, invites, and the admin's own change history.

Money (quotas, wallets, holds, the ledger, prices) has its own admin in `wanweb/quotas/admin.py`,
which extends the team and membership pages below with each one's quota and spend.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db.models import Count
from django.utils.html import format_html

from wanweb.accounts.models import Invite, Membership, Team, VendorCredential


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is never edited here: view only, for every user, superusers included."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "team")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "member_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "time_zone"]}),
        ("Vendor keys", {"fields": ["operator_keys_allowed"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, team):
        return team._member_count


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user", "team"]
    list_select_related = ["user", "team"]
    fields = ["team", "user", "role"]


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["team", "role", "created_by", "created_at", "expires_at", "state"]
    list_filter = ["role", "team"]
    # The token itself is never stored; its hash is useless to an admin.
    exclude = ["token_hash"]
    readonly_fields = [
        "team",
        "role",
        "created_by",
        "created_at",
        "expires_at",
        "used_at",
        "used_by",
        "revoked_at",
    ]

    def has_add_permission(self, request):
        return False  # invites are made on the members page, where the link is shown once


@admin.register(VendorCredential)
class VendorCredentialAdmin(ReadOnlyAdmin):
    """Teams' own vendor keys, for the audit trail: who added which, when, and its last four
    characters. The ciphertexts are not shown (nor the keys: teams manage them on their page)."""

    list_display = [
        "team",
        "vendor",
        "hint",
        "created_by",
        "created_at",
        "last_used_at",
        "verify_status",
        "revoked_at",
    ]
    list_filter = ["vendor", "verify_status", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["team__name", "vendor"]
    list_select_related = ["team", "created_by"]
    fields = [
        "team",
        "vendor",
        "hint",
        "created_by",
        "created_at",
        "last_used_at",
        "last_verified_at",
        "verify_status",
        "verify_message",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = fields

    @admin.display(description="Key")
    def hint(self, credential):
        return f"…{credential.key_hint}" if credential.key_hint else "(short key)"


# ---------------------------------------------------------------------------------------------
# The admin's own change history
# ---------------------------------------------------------------------------------------------


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    list_display = ["action_time", "user", "content_type", "object_link", "action", "message"]
    list_filter = ["action_flag", "content_type", ("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["object_repr", "change_message", "user__username"]
    date_hierarchy = "action_time"
    list_select_related = ["user", "content_type"]

    @admin.display(description="Object", ordering="object_repr")
    def object_link(self, entry):
        if entry.is_deletion():
            return entry.object_repr
        url = entry.get_admin_url()
        return format_html('<a href="{}">{}</a>', url, entry.object_repr) if url else entry.object_repr

    @admin.display(description="Action", ordering="action_flag")
    def action(self, entry):
        return {1: "added", 2: "changed", 3: "deleted"}.get(entry.action_flag, "?")

    @admin.display(description="Change")
    def message(self, entry):
        return entry.get_change_message()
