from django.contrib import admin

from notes.models import Note, NoteReport, NoteRevision


class NoteRevisionInline(admin.TabularInline):
    model = NoteRevision
    fields = ["number", "author", "message", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None):
        return False


class NoteReportInline(admin.TabularInline):
    model = NoteReport
    fields = ["reporter", "reason", "created_at", "resolved_at", "resolved_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "entry", "visibility", "revision", "updated_at", "hidden_at",
                    "deleted_at"]
    list_filter = ["visibility", ("hidden_at", admin.EmptyFieldListFilter),
                   ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "body", "author__username"]
    raw_id_fields = ["entry", "author"]
    readonly_fields = ["revision", "hidden_at", "hidden_by", "hidden_reason", "deleted_at", "deleted_by"]
    inlines = [NoteRevisionInline, NoteReportInline]
    actions = ["move_to_trash", "restore"]

    def save_model(self, request, obj, form, change):
        # Through apply_edit, so admin edits get revisions, rendered HTML and embeddings too.
        content = {field: form.cleaned_data[field] for field in form.changed_data
                   if field in ("title", "body", "entry", "visibility")}
        if not change:
            obj.author = form.cleaned_data["author"]
        obj.apply_edit(content, author=request.user, message="Edited in the admin")

    def delete_model(self, request, obj):
        obj.soft_delete(by=request.user)

    def delete_queryset(self, request, queryset):
        for note in queryset:
            note.soft_delete(by=request.user)

    @admin.action(description="Move to the trash")
    def move_to_trash(self, request, queryset):
        for note in queryset.alive():
            note.soft_delete(by=request.user)

    @admin.action(description="Restore from the trash")
    def restore(self, request, queryset):
        for note in queryset.deleted():
            note.restore()
