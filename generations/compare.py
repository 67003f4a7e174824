"""The studio form's "Compare" section: its fields, its live count and estimate, and turning a
submit into runs.run_create (generations/runs.py does the work); and the team's failover settings form."""

from __future__ import annotations

import re

from django import forms

from generations import runs
from generations.forms import GenerationForm
from providers import catalog, registry
from providers.base import RequestValidationError
from wanweb.accounts.models import Membership
from wanweb.quotas.money import format_usd

_NUMBERS = re.compile(r"[\s,;]+")


class CompareForm(forms.Form):
    """The Compare section's fields; the prompt, mode and base parameters come from GenerationForm."""

    compare_target = forms.MultipleChoiceField(required=False, label="Targets")
    compare_seeds = forms.IntegerField(required=False, min_value=1, max_value=runs.MAX_SEEDS, label="Seeds")
    compare_seed_list = forms.CharField(required=False, max_length=200, label="Or these seeds")
    compare_variants = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea, label="Prompt variants (one per line)"
    )
    compare_extra = forms.ChoiceField(required=False, label="Also compare")
    compare_values = forms.CharField(required=False, max_length=200, label="Values")
    compare_failover = forms.BooleanField(
        required=False, label="Re-route a job if its vendor is out of capacity"
    )

    def __init__(self, *args, membership: Membership, mode: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.targets = runs.targets_for(membership=membership, mode=mode)
        self.fields["compare_target"].choices = [(t.key, t.label) for t in self.targets]
        self.fields["compare_extra"].choices = [("", "Nothing else")] + [(p, p) for p in runs.EXTRA_PARAMS]

    def clean_compare_seed_list(self) -> list[int]:
        text = (self.cleaned_data.get("compare_seed_list") or "").strip()
        if not text:
            return []
        parts = [p for p in _NUMBERS.split(text) if p]
        if not all(p.isdigit() and len(p) <= 10 for p in parts):
            raise forms.ValidationError("Seeds are whole numbers separated by commas.")
        return [int(p) for p in parts]

    def clean_compare_values(self) -> list:
        text = (self.cleaned_data.get("compare_values") or "").strip()
        values = [p for p in _NUMBERS.split(text) if p][: runs.MAX_EXTRA_VALUES]
        return [int(v) if v.isdigit() and len(v) < 10 else v for v in values]

    def run_options(self) -> dict:
        """Keyword arguments for runs.plan_run / run_create (after is_valid())."""
        data = self.cleaned_data
        variants = [
            line.strip() for line in (data.get("compare_variants") or "").splitlines() if line.strip()
        ]
        return {
            "targets": [runs.Target.parse(key) for key in data.get("compare_target") or []],
            "seeds": data.get("compare_seed_list") or [],
            "seed_count": data.get("compare_seeds") or 1,
            "variants": variants,
            "extra_param": data.get("compare_extra") or "",
            "extra_values": data.get("compare_values") or [],
        }

    def error_text(self) -> str:
        return " ".join(f"{self.fields[name].label}: {' '.join(errs)}" for name, errs in self.errors.items())


def compare_form(membership: Membership, generation_form: GenerationForm, data=None) -> CompareForm:
    return CompareForm(data, membership=membership, mode=str(generation_form.spec.mode), prefix=None)


def base_params(form: GenerationForm) -> dict:
    """The form's parameters as given (the chosen model's), before any target's translation."""
    source = form.data if form.is_bound else form.initial
    return {name: source.get(name) for name in form.param_names if source.get(name) not in (None, "")}


def estimate(membership: Membership, form: GenerationForm, compare: CompareForm) -> dict:
    """The cross product's job count and total estimate, or why it cannot be made."""
    if not compare.is_valid():
        return {"error": compare.error_text()}
    options = compare.run_options()
    if not options["targets"]:
        return {"error": "", "count": 0}
    seeds = options["seeds"] or list(range(options["seed_count"]))
    try:
        plan = runs.plan_run(
            membership=membership,
            mode=str(form.spec.mode),
            targets=options["targets"],
            prompt=(form.data.get("prompt") if form.is_bound else "") or "",
            params=base_params(form),
            seeds=seeds,
            variants=options["variants"],
            extra_param=options["extra_param"],
            extra_values=options["extra_values"],
        )
    except runs.RunRefused as exc:
        return {"error": exc.message}
    except RequestValidationError as exc:
        return {"error": " ".join(m for ms in exc.errors.values() for m in ms)}
    return {
        "error": "",
        "count": len(plan.jobs),
        "left_out": len(plan.cells) - len(plan.jobs),
        "notes": len([c for c in plan.jobs if c.note]),
        "total": format_usd(plan.total),
        "estimated": any(
            catalog.get_model(c.target.provider, c.target.model, form.spec.mode).price.estimate
            for c in plan.jobs
        ),
    }


class RunSettingsForm(forms.Form):
    """The team's failover page: the switch and the preference order, one select per place.

    Plain selects (one per place, "1st" … "nth") so the order is set with the keyboard alone and
    without scripts; a provider chosen twice is a form error, empty places are skipped.
    """

    failover_enabled = forms.BooleanField(
        required=False,
        label="Re-route compare jobs that fail for capacity",
        help_text="Only runs started with failover on, and only for 429, 5xx, timeouts, an unreachable "
        "vendor or “insufficient balance”. Validation and moderation errors never fail over.",
    )

    def __init__(self, *args, providers: list[str], initial_order: list[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.providers = providers
        choices = [("", "—")] + [(p, registry.PROVIDER_LABELS.get(p, p)) for p in providers]
        order = [p for p in initial_order if p in providers]
        for place in range(1, len(providers) + 1):
            self.fields[f"order_{place}"] = forms.ChoiceField(
                required=False,
                choices=choices,
                label=_ordinal(place),
                initial=order[place - 1] if place <= len(order) else "",
            )

    @property
    def place_fields(self) -> list:
        return [self[f"order_{place}"] for place in range(1, len(self.providers) + 1)]

    def clean(self) -> dict:
        data = super().clean()
        chosen = [data.get(f"order_{place}") for place in range(1, len(self.providers) + 1)]
        chosen = [p for p in chosen if p]
        twice = sorted({p for p in chosen if chosen.count(p) > 1})
        if twice:
            names = ", ".join(registry.PROVIDER_LABELS.get(p, p) for p in twice)
            raise forms.ValidationError(f"Each provider can have one place only: {names} is chosen twice.")
        data["provider_order"] = chosen
        return data


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} choice"
