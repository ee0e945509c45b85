from django import forms

from glossary.models import Entry
from notes.models import MAX_BODY_LENGTH, MAX_REASON_LENGTH, MAX_TITLE_LENGTH, Note


class NoteForm(forms.Form):
    title = forms.CharField(max_length=MAX_TITLE_LENGTH,
                            error_messages={"required": "Give the note a title."})
    # No max_length here: the browser would then cut a long paste short without a word.
    # The limit is checked in clean_body, with a message that says by how much.
    body = forms.CharField(required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 16, "class": "mono"}),
                           help_text="Markdown. [[Term]] links a glossary entry, $…$ is math.")
    entry = forms.ModelChoiceField(Entry.objects.only("slug", "term"),
                                   to_field_name="slug", required=False, empty_label="— none —",
                                   label="About entry")
    visibility = forms.ChoiceField(choices=Note.Visibility.choices, widget=forms.RadioSelect,
                                   initial=Note.Visibility.PRIVATE)
    message = forms.CharField(required=False, max_length=300, label="What changed")
    base_revision = forms.IntegerField(widget=forms.HiddenInput, required=False,
                                       min_value=0, max_value=2**31 - 1)

    def __init__(self, *args, note: Note | None = None, **kwargs):
        if note is not None and "data" not in kwargs and not args:
            kwargs["initial"] = {**note.content(), "base_revision": note.revision}
        super().__init__(*args, **kwargs)

    def clean_body(self):
        # Browsers send line breaks as CRLF; count them as one character, as the API does.
        body = self.cleaned_data["body"].replace("\r\n", "\n")
        if len(body) > MAX_BODY_LENGTH:
            raise forms.ValidationError(
                f"Notes are limited to {MAX_BODY_LENGTH:,} characters; this one has {len(body):,}. "
                f"Shorten it by {len(body) - MAX_BODY_LENGTH:,}, or split it into two notes.")
        return body

    def content(self) -> dict:
        data = self.cleaned_data
        return {"title": data["title"], "body": data["body"], "entry": data["entry"],
                "visibility": data["visibility"]}


class NoteFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=300, label="Words")
    entry = forms.CharField(required=False, max_length=100)
    author = forms.CharField(required=False, max_length=150)
    visibility = forms.ChoiceField(required=False, choices=[("", "Any"), *Note.Visibility.choices])


class ReportForm(forms.Form):
    reason = forms.CharField(max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3}),
                             label="What is wrong with it",
                             error_messages={"required": "Say in a few words what is wrong, "
                                                         "so staff know what to look for."})


class HideForm(forms.Form):
    reason = forms.CharField(max_length=MAX_REASON_LENGTH, required=False,
                             label="Reason (shown to the author)")
