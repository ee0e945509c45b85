from django.urls import path

from glossary import api

urlpatterns = [
    path("entries/", api.EntryList.as_view(), name="entry-list"),
    path("entries/<slug:slug>/", api.EntryDetail.as_view(), name="entry-detail"),
    path("entries/<slug:slug>/revisions/", api.RevisionList.as_view(), name="revision-list"),
    path("entries/<slug:slug>/revisions/<int:number>/", api.RevisionDetail.as_view(), name="revision-detail"),
    path("categories/", api.CategoryList.as_view(), name="category-list"),
    path("lookup/", api.lookup, name="lookup"),
]
