from django.urls import path

from search import api

urlpatterns = [
    path("search/", api.search, name="search"),
    path("search/suggestions/", api.suggestions, name="search-suggestions"),
]
