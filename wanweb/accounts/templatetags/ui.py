"""Template helpers for rendering Django form widgets with Bootstrap classes."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def bs_widget(field):
    """Render a bound field's widget with Bootstrap's class, marked invalid when it has errors."""
    widget = field.field.widget
    base = (
        "form-select"
        if getattr(widget, "input_type", "") == "select" or widget.__class__.__name__.endswith("Select")
        else "form-control"
    )
    classes = [widget.attrs.get("class", ""), base]
    if field.errors:
        classes.append("is-invalid")
    attrs = {"class": " ".join(c for c in classes if c)}
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)
