from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from wanweb.quotas.selectors import BudgetBanner, budget_banners


def budget_banner_context(request) -> dict:
    """`budget_banners`, computed only when a template reads it (the project and usage pages)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}

    def compute() -> list[BudgetBanner]:
        membership = getattr(request, "membership", None)
        return budget_banners(membership=membership) if membership else []

    return {"budget_banners": SimpleLazyObject(compute)}
