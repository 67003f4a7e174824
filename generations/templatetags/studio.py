"""Small display filters for the studio's cards and job pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def about_duration(seconds) -> str:
    """A rough length for people: "about 45 s", "about 2 min", "about 1 h"."""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return ""
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {round(seconds / 3600)} h"
