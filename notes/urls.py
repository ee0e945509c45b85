from django.urls import path

from notes import converters, views  # noqa: F401 - converters registers note_id

app_name = "notes"

urlpatterns = [
    path("", views.note_list, name="list"),
    path("new/", views.note_create, name="new"),
    path("preview/", views.note_preview, name="preview"),
    path("trash/", views.trash, name="trash"),
    path("moderation/", views.moderation, name="moderation"),
    path("by/<str:username>/", views.note_list, name="by-author"),
    path("<note_id:pk>/", views.note_detail, name="detail"),
    path("<note_id:pk>/edit/", views.note_edit, name="edit"),
    path("<note_id:pk>/delete/", views.note_delete, name="delete"),
    path("<note_id:pk>/history/", views.note_history, name="history"),
    path("<note_id:pk>/restore/", views.restore, name="restore"),
    path("<note_id:pk>/report/", views.note_report, name="report"),
    path("<note_id:pk>/hide/", views.moderate, {"action": "hide"}, name="hide"),
    path("<note_id:pk>/unhide/", views.moderate, {"action": "unhide"}, name="unhide"),
    path("<note_id:pk>/dismiss-reports/", views.moderate, {"action": "dismiss"}, name="dismiss-reports"),
]
