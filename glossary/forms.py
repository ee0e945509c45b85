from django import forms

from glossary.models import Category, Entry


class EntryForm(forms.Form):
    """The editing form. Aliases: one per line. Sources: one per line, "Title | URL"."""

    term = forms.CharField(max_length=200)
    aliases = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="One per line: the spellings people type.")
    category = forms.ModelChoiceField(Category.objects.all(), to_field_name="slug")
    summary = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    body = forms.CharField(required=False, max_length=100_000,
                           widget=forms.Textarea(attrs={"rows": 18, "class": "mono"}),
                           help_text="Markdown. [[Term]] links an entry, $…$ is math.")
    sources = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="One per line: Title | https://url")
    message = forms.CharField(required=False, max_length=300, label="What changed")
    base_revision = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, entry: Entry | None = None, **kwargs):
        self.entry = entry
        if entry is not None and "data" not in kwargs and not args:
            kwargs["initial"] = self.initial_from(entry.content(), entry.revision)
        super().__init__(*args, **kwargs)

    @staticmethod
    def initial_from(content: dict, revision: int | None) -> dict:
        return {
            "term": content["term"], "aliases": "\n".join(content["aliases"]),
            "category": content["category"], "summary": content["summary"],
            "body": content["body"], "base_revision": revision,
            "sources": "\n".join(f"{s['title']} | {s['url']}" if s.get("url") else s["title"]
                                 for s in content["sources"]),
        }

    def clean_aliases(self):
        return [line.strip() for line in self.cleaned_data["aliases"].splitlines() if line.strip()]

    def clean_sources(self):
        sources = []
        url_field = forms.URLField(assume_scheme="https")
        for line in self.cleaned_data["sources"].splitlines():
            if not line.strip():
                continue
            title, _, url = (part.strip() for part in line.partition("|"))
            if not title:
                raise forms.ValidationError(f"“{line}” has no title before the |.")
            source = {"title": title}
            if url:
                source["url"] = url_field.clean(url)
            sources.append(source)
        if not sources:
            raise forms.ValidationError("Give at least one source.")
        return sources

    def clean(self):
        data = super().clean()
        if "term" in data and "aliases" in data:
            probe = self.entry or Entry()
            for name, other in probe.name_conflicts([data["term"], *data["aliases"]]):
                field = "term" if name == data["term"] else "aliases"
                self.add_error(field, f"“{name}” already names the entry “{other.term}”.")
        return data

    def content(self) -> dict:
        data = self.cleaned_data
        return {"term": data["term"], "aliases": data["aliases"], "category": data["category"].slug,
                "summary": data["summary"], "body": data["body"], "sources": data["sources"]}
