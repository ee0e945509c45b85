from django.contrib import admin

from glossary.models import Category, Entry, Revision


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}


class RevisionInline(admin.TabularInline):
    model = Revision
    fields = ["number", "author", "message", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ["term", "category", "revision", "updated_at"]
    list_filter = ["category"]
    search_fields = ["term", "aliases", "summary"]
    prepopulated_fields = {"slug": ["term"]}
    readonly_fields = ["revision"]
    inlines = [RevisionInline]

    def save_model(self, request, obj, form, change):
        # Through apply_edit, so admin edits get revisions, links and embeddings too.
        content = {field: form.cleaned_data[field] for field in form.changed_data
                   if field in Entry.EDITABLE}
        if "category" in form.changed_data:
            content["category"] = form.cleaned_data["category"].slug
        obj.apply_edit(content, author=request.user, message="Edited in the admin")

    def delete_model(self, request, obj):
        obj.delete_with_links()
