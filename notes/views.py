import difflib

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.template.defaultfilters import pluralize
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.permissions import forbidden, member_required, staff_required
from glossary.models import Entry
from notes.forms import HideForm, NoteFilterForm, NoteForm, ReportForm
from notes.models import MAX_BODY_LENGTH, TRASH_DAYS, Note, NoteReport, StaleNoteRevision

PAGE_SIZE = 20


def notes_for_entry(entry, user) -> list[Note]:
    """The notes shown on an entry's page: those `user` may read, newest first."""
    return list(Note.objects.visible_to(user).filter(entry=entry).select_related("author")[:50])


def _visible_note(request, pk) -> Note:
    return get_object_or_404(Note.objects.visible_to(request.user).select_related("entry", "author"),
                             pk=pk)


def note_list(request, username=None):
    """All notes the viewer may read, filtered by entry, author, visibility and words.

    htmx requests (the filter form) get only the results partial."""
    person = get_object_or_404(get_user_model(), username=username) if username else None
    data = request.GET.copy()
    if person:
        data["author"] = person.username
    form = NoteFilterForm(data)
    notes = Note.objects.visible_to(request.user).select_related("entry", "author")
    if form.is_valid():
        notes = notes.filtered(entry=form.cleaned_data["entry"], author=form.cleaned_data["author"],
                               visibility=form.cleaned_data["visibility"], text=form.cleaned_data["q"])
    page = Paginator(notes, PAGE_SIZE).get_page(request.GET.get("page"))
    query = data.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "person": person, "query": query.urlencode(),
               "entry": Entry.objects.filter(slug=form.data.get("entry", "")).first()}
    template = "notes/list.html#results" if request.htmx else "notes/list.html"
    return render(request, template, context)


def note_detail(request, pk):
    note = _visible_note(request, pk)
    context = {"note": note, "can_edit": note.can_edit(request.user),
               "can_report": note.can_report(request.user) and not request.user.is_staff}
    if request.user.is_staff:
        context["reports"] = list(note.reports.select_related("reporter", "resolved_by"))
        context["open_reports"] = sum(report.resolved_at is None for report in context["reports"])
        context["hide_form"] = HideForm()
    return render(request, "notes/detail.html", context)


def _form_context(form, note=None) -> dict:
    from django.urls import reverse

    return {"form": form, "note": note, "max_length": MAX_BODY_LENGTH,
            "action": reverse("notes:edit", args=[note.pk]) if note else reverse("notes:new")}


@member_required
def note_create(request):
    if request.method != "POST":
        initial = {}
        if entry := Entry.objects.filter(slug=request.GET.get("entry", "")[:100]).first():
            initial["entry"] = entry.slug
        return render(request, "notes/edit.html", _form_context(NoteForm(initial=initial)))
    form = NoteForm(request.POST)
    if not form.is_valid():
        return render(request, "notes/edit.html", _form_context(form), status=400)
    note = Note(author=request.user)
    note.apply_edit(form.content(), author=request.user,
                    message=form.cleaned_data["message"] or "Created")
    return redirect(note)


@member_required
def note_edit(request, pk):
    """Edit a note. A stale base revision shows the conflict screen, keeping what was typed."""
    note = _visible_note(request, pk)
    if not note.can_edit(request.user):
        return forbidden(request, "Only the author of a note, or staff, can edit it.")
    if request.method != "POST":
        return render(request, "notes/edit.html", _form_context(NoteForm(note=note), note))
    form = NoteForm(request.POST)
    if not form.is_valid():
        return render(request, "notes/edit.html", _form_context(form, note), status=400)
    try:
        note.apply_edit(form.content(), author=request.user, message=form.cleaned_data["message"],
                        base_revision=form.cleaned_data["base_revision"])
    except StaleNoteRevision as stale:
        # The user's text stays in the form, now based on the latest revision: saving again
        # replaces the other version deliberately, after they have seen it.
        retry = NoteForm({**request.POST.dict(), "base_revision": stale.current.revision})
        retry.is_valid()
        return render(request, "notes/conflict.html", {
            **_form_context(retry, stale.current),
            "diff": text_diff(stale.current.body, form.cleaned_data["body"]),
        }, status=409)
    return redirect(note)


@member_required
def note_delete(request, pk):
    """Asks first; deleting moves the note to the trash, restorable by staff."""
    note = _visible_note(request, pk)
    if not note.can_edit(request.user):
        return forbidden(request, "Only the author of a note, or staff, can delete it.")
    if request.method == "POST":
        note.soft_delete(by=request.user)
        messages.success(request, f"“{note.title}” was moved to the trash. "
                                  f"Staff can restore it for {TRASH_DAYS} days.")
        return redirect("notes:list")
    return render(request, "notes/delete.html", {"note": note, "trash_days": TRASH_DAYS})


@member_required
def note_history(request, pk):
    """Every revision of a note, with what changed in each. Shown to those who can edit it:
    an earlier revision may hold text from when the note was private."""
    note = _visible_note(request, pk)
    if not note.can_edit(request.user):
        return forbidden(request, "Only the author of a note, or staff, can see its history.")
    revisions = list(note.revisions.select_related("author"))
    rows = []
    for newer, older in zip(revisions, revisions[1:] + [None]):
        old = older.content if older else {"title": "", "body": "", "entry": None, "visibility": ""}
        rows.append({"revision": newer, "diff": text_diff(
            content_text(old), content_text(newer.content))})
    return render(request, "notes/history.html", {"note": note, "rows": rows})


def content_text(content: dict) -> str:
    return (f"Title: {content['title']}\nEntry: {content['entry'] or '—'}\n"
            f"Visibility: {content['visibility']}\n\n{content['body']}")


def text_diff(old: str, new: str) -> list[dict]:
    rows = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "added", "-": "removed", "@": "hunk"}.get(line[:1], "same")
        rows.append({"kind": kind, "text": line[1:] if kind != "hunk" else line})
    return rows


@member_required
def note_preview(request):
    """Live preview while editing (htmx posts the form here)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    body = request.POST.get("body", "").replace("\r\n", "\n")
    warning = ""
    if len(body) > MAX_BODY_LENGTH:
        warning = (f'<p class="error" role="alert">Too long to save: {len(body):,} characters '
                   f"(the limit is {MAX_BODY_LENGTH:,}).</p>")
        body = body[:MAX_BODY_LENGTH * 2]  # bound the rendering work
    html = Note(body=body).render()
    return HttpResponse(warning + (html or '<p class="muted">Nothing to preview yet.</p>'))


@staff_required
def trash(request):
    notes = Note.objects.deleted().select_related("author", "deleted_by", "entry").order_by("-deleted_at")
    page = Paginator(notes, 50).get_page(request.GET.get("page"))
    return render(request, "notes/trash.html", {"page": page, "trash_days": TRASH_DAYS})


@staff_required
@require_POST
def restore(request, pk):
    note = get_object_or_404(Note.objects.deleted(), pk=pk)
    note.restore()
    messages.success(request, f"“{note.title}” was restored.")
    return redirect(note)


@member_required
def note_report(request, pk):
    """A member tells staff a note should not be shown; staff see it on the moderation page."""
    note = _visible_note(request, pk)
    if not note.can_report(request.user):
        return forbidden(request, "You wrote this note: edit or delete it instead of reporting it.")
    form = ReportForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "notes/report.html", {"note": note, "form": form}, status=400)
        note.report(request.user, form.cleaned_data["reason"])
        messages.success(request, "Thank you: staff will look at this note.")
        return redirect(note)
    return render(request, "notes/report.html", {"note": note, "form": form})


@staff_required
def moderation(request):
    """Reported and hidden notes, with who wrote and who reported them."""
    reported = (Note.objects.alive().reported().select_related("author", "entry")
                .prefetch_related(Prefetch("reports", to_attr="open_report_list",
                                           queryset=NoteReport.objects.filter(resolved_at__isnull=True)
                                           .select_related("reporter"))))
    hidden = Note.objects.alive().hidden().select_related("author", "hidden_by").order_by("-hidden_at")
    return render(request, "notes/moderation.html", {
        "reported": reported[:100], "hidden": hidden[:100], "hide_form": HideForm()})


@staff_required
@require_POST
def moderate(request, pk, action):
    """Staff's actions on a note: "hide" it, "unhide" it, or "dismiss" its reports."""
    note = get_object_or_404(Note.objects.alive(), pk=pk)
    if action == "hide":
        form = HideForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Nothing was hidden: " + " ".join(form.errors["reason"]))
            return redirect(_next_or(request, note))
        note.hide(request.user, form.cleaned_data["reason"])
        messages.success(request, f"“{note.title}” is hidden: only its author and staff see it now.")
    elif action == "unhide":
        note.unhide(request.user)
        messages.success(request, f"“{note.title}” is shown again.")
    else:
        count = note.resolve_reports(request.user)
        messages.success(request, f"{count} report{pluralize(count)} on “{note.title}” dismissed.")
    return redirect(_next_or(request, note))


def _next_or(request, note) -> str:
    """Back to the moderation page when the action came from there, else to the note."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return note.get_absolute_url()
