from django.urls import path

from notes import api, converters  # noqa: F401 - registers the note_id converter

urlpatterns = [
    path("notes/", api.NoteList.as_view(), name="note-list"),
    path("notes/<note_id:pk>/", api.NoteDetail.as_view(), name="note-detail"),
    path("notes/<note_id:pk>/report/", api.report_note, name="note-report"),
    path("notes/<note_id:pk>/hide/", api.hide_note, name="note-hide"),
    path("notes/<note_id:pk>/unhide/", api.unhide_note, name="note-unhide"),
]
