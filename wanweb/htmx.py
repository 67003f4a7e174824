"""The one rule every view uses to choose between the whole page and the fragment htmx swaps."""

from __future__ import annotations


def wants_fragment(request) -> bool:
    """True for an htmx request, except a history restore, which needs the whole page back."""
    return bool(request.htmx) and not request.htmx.history_restore_request
