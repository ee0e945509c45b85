from itertools import groupby

from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404, redirect, render

from glossary import search as glossary_search
from glossary.models import Category, Entry, Link, MissingLink
from glossary.serializers import SearchQuerySerializer


def index(request):
    """A–Z index of every entry."""
    entries = Entry.objects.only("slug", "term", "summary").order_by("term")
    letters = [(letter, list(group)) for letter, group in
               groupby(entries, key=lambda e: e.term[0].upper() if e.term[0].isalpha() else "#")]
    categories = Category.objects.annotate(entry_count=Count("entries"))
    recent = Entry.objects.order_by("-updated_at").only("slug", "term", "updated_at")[:10]
    return render(request, "glossary/index.html",
                  {"letters": letters, "categories": categories, "recent": recent})


def entry_detail(request, slug):
    entry = get_object_or_404(
        Entry.objects.select_related("category").prefetch_related(
            Prefetch("outgoing", queryset=Link.objects.select_related("target").order_by("target__term")),
            Prefetch("incoming", queryset=Link.objects.select_related("source").order_by("source__term")),
        ),
        slug=slug,
    )
    related = (Entry.objects.filter(category=entry.category).exclude(pk=entry.pk)
               .only("slug", "term").order_by("term")[:12])
    return render(request, "glossary/entry.html", {"entry": entry, "related": related})


def entry_preview(request, slug):
    """The hover card for links to an entry (fetched by htmx)."""
    entry = get_object_or_404(Entry.objects.select_related("category"), slug=slug)
    return render(request, "glossary/preview.html", {"entry": entry})


def category_detail(request, slug):
    category = get_object_or_404(Category, slug=slug)
    entries = category.entries.only("slug", "term", "summary").order_by("term")
    return render(request, "glossary/category.html", {"category": category, "entries": entries})


def missing(request):
    """Wiki links whose target has no entry yet, and which entries contain them."""
    links = MissingLink.objects.select_related("source").order_by("target_text", "source__term")
    groups = [(text, [link.source for link in group])
              for text, group in groupby(links, key=lambda link: link.target_text)]
    return render(request, "glossary/missing.html",
                  {"groups": groups, "wanted": request.GET.get("term", "")[:200]})


def search_page(request):
    """The search page; htmx requests get only the results partial (active search)."""
    form = SearchQuerySerializer(data=request.GET)
    results, took_ms, error = [], None, None
    query = request.GET.get("q", "").strip()
    if query:
        if form.is_valid():
            params = form.validated_data
            exact = Entry.objects.matching(query).first()
            if exact and not request.htmx and request.GET.get("go") == "1":
                return redirect(exact)
            results, took_ms = glossary_search.search(params["q"], params["mode"], params["limit"])
        else:
            error = "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in form.errors.items())
    context = {"query": query, "mode": request.GET.get("mode", "hybrid"), "results": results,
               "took_ms": took_ms, "error": error, "modes": glossary_search.MODES}
    template = "search.html#results" if request.htmx else "search.html"
    return render(request, template, context)
