from django.urls import path

from notes import converters, views  # noqa: F401 - converters registers note_id

app_name = "notes"

urlpatterns = [
    path("", views.note_list, name="list"),
    path("new/", views.note_create, name="new"),
    path("preview/", views.note_preview, name="preview"),
    path("trash/", views.trash, name="trash"),
    path("by/<str:username>/", views.note_list, name="by-author"),
    path("<note_id:pk>/", views.note_detail, name="detail"),
    path("<note_id:pk>/edit/", views.note_edit, name="edit"),
    path("<note_id:pk>/delete/", views.note_delete, name="delete"),
    path("<note_id:pk>/history/", views.note_history, name="history"),
    path("<note_id:pk>/restore/", views.restore, name="restore"),
]
