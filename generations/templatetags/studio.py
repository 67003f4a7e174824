"""Small display helpers for the studio's pages: the top bar's running-jobs count, rough durations."""

from __future__ import annotations

from django import template

register = template.Library()


@register.inclusion_tag("generations/_running_jobs.html")
def running_jobs_indicator(membership):
    """The top bar's count of the team's active jobs (one COUNT query, full pages only)."""
    from generations.selectors import team_active_job_count

    return {"count": team_active_job_count(team=membership.team)}


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
