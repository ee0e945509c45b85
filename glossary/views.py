from itertools import groupby

from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render

from glossary import search as glossary_search
from glossary.embeddings import EmbeddingUnavailable
from glossary.diff import content_diff
from glossary.models import Category, Entry, MissingLink, alphabetical
from glossary.serializers import SearchQuerySerializer


def index(request):
    """A–Z index of every entry, one heading per letter. `?q=` hides the entries whose names
    do not contain the text: the filter box works without script, and its script filters
    the same list as one types."""
    query = " ".join(request.GET.get("q", "").split())[:100]
    entries = list(Entry.objects.alphabetical().only("slug", "term", "aliases", "summary"))
    matching = set(Entry.objects.named_like(query).values_list("pk", flat=True)) if query else None
    for entry in entries:
        entry.filtered_out = matching is not None and entry.pk not in matching
    letters = [{"letter": letter, "anchor": "letter-" + ("digits" if letter == "#" else letter),
                "entries": group, "filtered_out": all(e.filtered_out for e in group)}
               for letter, group in ((letter, list(group)) for letter, group
                                     in groupby(entries, key=lambda e: e.index_letter))]
    categories = Category.objects.annotate(entry_count=Count("entries")).order_by("position", "name")
    recent = Entry.objects.order_by("-updated_at").only("slug", "term", "updated_at")[:10]
    return render(request, "glossary/index.html", {
        "letters": letters, "categories": categories, "recent": recent, "query": query,
        "shown": len(entries) if matching is None else len(matching), "total": len(entries)})


def entry_detail(request, slug):
    entry = get_object_or_404(Entry.objects.with_links(), slug=slug)
    related = (Entry.objects.filter(category=entry.category).exclude(pk=entry.pk)
               .only("slug", "term")[:12])
    from notes.views import notes_for_entry

    return render(request, "glossary/entry.html", {
        "entry": entry, "related": related, "can_edit": can_edit(request.user),
        "entry_notes": notes_for_entry(entry, request.user),
    })


def entry_preview(request, slug):
    """The hover card for links to an entry (fetched by htmx)."""
    entry = get_object_or_404(Entry.objects.select_related("category"), slug=slug)
    return render(request, "glossary/preview.html", {"entry": entry})


def category_detail(request, slug):
    category = get_object_or_404(Category, slug=slug)
    entries = category.entries.only("slug", "term", "summary")
    return render(request, "glossary/category.html", {"category": category, "entries": entries})


def missing(request):
    """Wiki links whose target has no entry yet, and which entries contain them. A missing
    link in a body leads here with `?term=`; editors get a button that starts that entry."""
    links = MissingLink.objects.select_related("source").order_by(
        *alphabetical("target_text"), *alphabetical("source__term"))
    groups = [(text, [link.source for link in group])
              for text, group in groupby(links, key=lambda link: link.target_text)]
    wanted = " ".join(request.GET.get("term", "").split())[:200]
    existing = Entry.objects.matching(wanted).first() if wanted else None
    return render(request, "glossary/missing.html", {
        "groups": groups, "wanted": wanted, "existing": existing, "can_edit": can_edit(request.user)})


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
            try:
                results, took_ms = glossary_search.search(params["q"], params["mode"], params["limit"], user=request.user)
            except EmbeddingUnavailable:
                error = "Semantic search is unavailable right now; try hybrid or keyword mode."
        else:
            error = "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in form.errors.items())
    context = {"query": query, "mode": request.GET.get("mode", "hybrid"), "results": results,
               "took_ms": took_ms, "error": error, "modes": glossary_search.MODES}
    template = "search.html#results" if request.htmx else "search.html"
    return render(request, template, context)


def can_edit(user) -> bool:
    return user.has_perm("glossary.change_entry")


def editors_only(view):
    from functools import wraps

    from django.contrib.auth.views import redirect_to_login
    from django.core.exceptions import PermissionDenied

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_edit(request.user):
            raise PermissionDenied("Only editors change glossary entries.")
        return view(request, *args, **kwargs)

    return wrapper


@editors_only
def entry_edit(request, slug=None):
    """Edit (or, without a slug, create) an entry. A stale base revision shows the conflict
    screen. A new entry's term may come from `?term=` (the "create this entry" button of a
    missing link), and the page then lists the entries whose links are waiting for it."""
    from django.utils.text import slugify

    from glossary.forms import EntryForm
    from glossary.models import StaleRevision

    entry = get_object_or_404(Entry.objects.select_related("category"), slug=slug) if slug else None
    if request.method != "POST":
        term = "" if entry else " ".join(request.GET.get("term", "").split())[:200]
        waiting = (MissingLink.objects.filter(target_text__iexact=term).select_related("source")
                   .order_by(*alphabetical("source__term")) if term else [])
        return render(request, "glossary/edit.html", {
            "form": EntryForm(entry=entry, initial={"term": term} if term else None),
            "entry": entry, "waiting": [link.source for link in waiting]})

    form = EntryForm(request.POST, entry=entry)
    if not form.is_valid():
        return render(request, "glossary/edit.html", {"form": form, "entry": entry}, status=400)
    if entry is None:
        new_slug = slugify(form.cleaned_data["term"])[:100]
        if not new_slug or Entry.objects.filter(slug=new_slug).exists():
            form.add_error("term", "An entry with this name (or slug) exists already.")
            return render(request, "glossary/edit.html", {"form": form, "entry": entry}, status=400)
        entry = Entry(slug=new_slug)
    try:
        entry.apply_edit(form.content(), author=request.user,
                         message=form.cleaned_data["message"] or ("Created" if not slug else ""),
                         base_revision=form.cleaned_data["base_revision"] if slug else None)
    except StaleRevision as stale:
        current = stale.current
        return render(request, "glossary/conflict.html", {
            "entry": current, "form": form,
            "diff": content_diff(current.content(), form.content()),
            "current_form": EntryForm(entry=current),
        }, status=409)
    return redirect(entry)


def markdown_preview(request):
    """Live preview while editing (htmx posts the body here)."""
    from django.http import HttpResponse

    from glossary.links import TermIndex
    from glossary.markdown import render as render_markdown

    if request.method != "POST":
        return HttpResponse(status=405)
    text = request.POST.get("body", "")[:100_000]
    index = TermIndex.from_database()
    html = render_markdown(text, index.resolve, autolink=index.autolink_pattern(),
                           own_slug=request.POST.get("slug") or None).html
    return HttpResponse(html or '<p class="muted">Nothing to preview yet.</p>')


def entry_history(request, slug):
    """Every revision, and the side-by-side difference between any two (`?from=&to=`)."""
    entry = get_object_or_404(Entry, slug=slug)
    revisions = list(entry.revisions.select_related("author"))
    by_number = {r.number: r for r in revisions}
    default_old = revisions[1].number if len(revisions) > 1 else None
    default_new = revisions[0].number if revisions else None
    try:
        old_n = int(request.GET.get("from", default_old or 0))
        new_n = int(request.GET.get("to", default_new or 0))
    except ValueError:
        old_n, new_n = default_old, default_new
    diff = None
    if old_n in by_number and new_n in by_number:
        diff = content_diff(by_number[old_n].content, by_number[new_n].content)
    return render(request, "glossary/history.html", {
        "entry": entry, "revisions": revisions, "diff": diff, "old_n": old_n, "new_n": new_n,
        "old_label": f"Revision {old_n}", "new_label": f"Revision {new_n}",
        "can_edit": can_edit(request.user)})


def revision_detail(request, slug, number):
    """An old revision as its page looked, with links resolved against today's entries."""
    from glossary.links import TermIndex
    from glossary.markdown import render as render_markdown

    entry = get_object_or_404(Entry, slug=slug)
    revision = get_object_or_404(entry.revisions.select_related("author"), number=number)
    index = TermIndex.from_database()
    body_html = render_markdown(revision.content.get("body", ""), index.resolve,
                                autolink=index.autolink_pattern(), own_slug=entry.slug).html
    category = Category.objects.filter(slug=revision.content.get("category")).first()
    return render(request, "glossary/revision.html", {
        "entry": entry, "revision": revision, "content": revision.content, "body_html": body_html,
        "category": category, "can_edit": can_edit(request.user),
        "previous": entry.revisions.filter(number__lt=number).order_by("-number").first(),
        "next": entry.revisions.filter(number__gt=number).order_by("number").first()})


@editors_only
def entry_restore(request, slug, number):
    if request.method != "POST":
        return redirect("glossary:history", slug=slug)
    entry = get_object_or_404(Entry, slug=slug)
    revision = get_object_or_404(entry.revisions, number=number)
    content = dict(revision.content)
    if not Category.objects.filter(slug=content["category"]).exists():
        content.pop("category")
    entry.apply_edit(content, author=request.user, message=f"Restored revision {number}")
    return redirect(entry)


@editors_only
def entry_delete(request, slug):
    entry = get_object_or_404(Entry, slug=slug)
    if request.method == "POST":
        entry.delete_with_links()
        return redirect("glossary:index")
    return render(request, "glossary/delete.html", {"entry": entry})
