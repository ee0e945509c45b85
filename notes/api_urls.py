from django.urls import path

from notes import api, converters  # noqa: F401 - registers the note_id converter

urlpatterns = [
    path("notes/", api.NoteList.as_view(), name="note-list"),
    path("notes/<note_id:pk>/", api.NoteDetail.as_view(), name="note-detail"),
]
