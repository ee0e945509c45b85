from django.urls import path

from glossary import views

app_name = "glossary"

urlpatterns = [
    path("glossary/", views.index, name="index"),
    path("glossary/missing/", views.missing, name="missing"),
    path("glossary/category/<slug:slug>/", views.category_detail, name="category"),
    path("glossary/<slug:slug>/", views.entry_detail, name="entry"),
    path("glossary/<slug:slug>/preview/", views.entry_preview, name="preview"),
    path("search/", views.search_page, name="search"),
]
