"""Reads for compare runs: the run scoped to the asking user's team, and its grid in a fixed
number of queries whatever the number of cells (bench/compare_queries.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from generations.models import ACTIVE_STATUSES, Asset, AssetRole, Run, RunCell, RunVote
from wanweb.accounts.models import Membership


def run_get_for_user(*, user, public_id) -> tuple[Run, Membership]:
    """The run and the user's membership of its team; Http404 for anyone outside that team."""
    try:
        run = Run.objects.select_related("team", "project", "created_by").get(
            public_id=public_id, team__memberships__user=user
        )
    except (Run.DoesNotExist, ValueError):
        raise Http404("No such run") from None
    return run, Membership.objects.select_related("team", "user").get(team_id=run.team_id, user=user)


def run_cells(*, run: Run, user, since: datetime | None = None) -> QuerySet[RunCell]:
    """The run's cells with their job, its outputs, the vote count and whether `user` voted.

    With `since`: only the cells that changed since then (the live refresh): their job moved on,
    or a vote, a winner pick or a failover stamped the cell itself.
    """
    outputs = Asset.objects.filter(role=AssetRole.OUTPUT).order_by("index")
    cells = (
        RunCell.objects.filter(run=run)
        .select_related("job")
        .prefetch_related(Prefetch("job__assets", queryset=outputs, to_attr="outputs"))
        .annotate(
            vote_count=Count("votes"),
            my_vote=Exists(RunVote.objects.filter(cell=OuterRef("pk"), user=user)),
        )
        .order_by("row", "col")
    )
    if since is not None:
        cells = cells.filter(Q(job__updated_at__gte=since) | Q(updated_at__gte=since))
    return cells


def run_row_winners(*, run: Run, rows) -> dict[int, RunCell]:
    """The winner of each of these rows (absent: none), for the row heads the poller refreshes."""
    return {c.row: c for c in RunCell.objects.filter(run=run, row__in=set(rows), winner=True)}


def run_is_active(*, run: Run) -> bool:
    return RunCell.objects.filter(run=run, job__status__in=ACTIVE_STATUSES).exists()


@dataclass
class GridRow:
    index: int
    label: str
    cells: list = field(default_factory=list)

    @property
    def winner(self):
        return next((c for c in self.cells if c and c.winner), None)


def run_grid(*, run: Run, cells) -> tuple[list[GridRow], list[str]]:
    """Rows of cells (None where a position has no cell) and the column labels."""
    cells = list(cells)
    cols = max((c.col for c in cells), default=-1) + 1
    col_labels = [""] * cols
    rows: dict[int, GridRow] = {}
    for cell in cells:
        row = rows.setdefault(cell.row, GridRow(cell.row, cell.row_label, [None] * cols))
        row.cells[cell.col] = cell
        col_labels[cell.col] = cell.col_label
    return [rows[i] for i in sorted(rows)], col_labels
