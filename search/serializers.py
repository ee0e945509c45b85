from rest_framework import serializers

from search.engine import MAX_QUERY_LENGTH, MODES


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=MAX_QUERY_LENGTH, trim_whitespace=True)
    mode = serializers.ChoiceField(choices=MODES, default="hybrid")
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)
    exact = serializers.BooleanField(default=False, help_text="search for the words as typed, "
                                                              "without correcting misspellings")


class SuggestQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=MAX_QUERY_LENGTH, trim_whitespace=True)
    limit = serializers.IntegerField(min_value=1, max_value=20, default=8)
