from django import template

from wanweb.quotas.money import format_usd

register = template.Library()


@register.filter
def usd(value):
    """`{{ amount|usd }}`: the one way a page writes an amount of money."""
    return format_usd(value)
