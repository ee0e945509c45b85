"""{% speed_section %}: the memory page's speed section, computed from the page's own form values."""

from django import template

from calculators.web.speed import section_context

register = template.Library()


@register.inclusion_tag("calculators/_speed.html", takes_context=True)
def speed_section(context):
    # `values` is the memory form as the memory page read it (calculators/web/memory.py);
    # the speed controls come from the same query string.
    return section_context(context["request"].GET, context["values"])
