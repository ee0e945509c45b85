from django.urls import path

from glossary import views

app_name = "glossary"

urlpatterns = [
    path("glossary/", views.index, name="index"),
    path("glossary/missing/", views.missing, name="missing"),
    path("glossary/new/", views.entry_edit, name="new"),
    path("glossary/preview/", views.markdown_preview, name="markdown-preview"),
    path("glossary/category/<slug:slug>/", views.category_detail, name="category"),
    path("glossary/<slug:slug>/", views.entry_detail, name="entry"),
    path("glossary/<slug:slug>/preview/", views.entry_preview, name="preview"),
    path("glossary/<slug:slug>/edit/", views.entry_edit, name="edit"),
    path("glossary/<slug:slug>/delete/", views.entry_delete, name="delete"),
    path("glossary/<slug:slug>/history/", views.entry_history, name="history"),
    path("glossary/<slug:slug>/history/<int:number>/", views.revision_detail, name="revision"),
    path("glossary/<slug:slug>/history/<int:number>/restore/", views.entry_restore, name="restore"),
    path("search/", views.search_page, name="search"),
]
