from django.shortcuts import redirect, render

from glossary.models import Entry
from search import engine
from search.embeddings import EmbeddingUnavailable
from search.serializers import SearchQuerySerializer


def search_page(request):
    """The search page; htmx requests get only the results partial (active search).

    `go=1` (sent by the header box) opens the entry straight away when the text is exactly
    its term or an alias.
    """
    form = SearchQuerySerializer(data=request.GET)
    text = request.GET.get("q", "").strip()
    answer, error = None, None
    if text:
        if form.is_valid():
            params = form.validated_data
            if request.GET.get("go") == "1" and not request.htmx:
                if exact := Entry.objects.matching(params["q"]).first():
                    return redirect(exact)
            try:
                answer = engine.search(params["q"], params["mode"], params["limit"], user=request.user,
                                       correct=not params["exact"])
            except EmbeddingUnavailable:
                error = "Semantic search is unavailable right now; try hybrid or keyword mode."
        else:
            error = "; ".join(f"{field}: {' '.join(map(str, messages))}"
                              for field, messages in form.errors.items())
    context = {"search_query": text, "mode": request.GET.get("mode", "hybrid"), "answer": answer,
               "error": error, "modes": engine.MODES}
    template = "search/search.html#results" if request.htmx else "search/search.html"
    return render(request, template, context, status=400 if text and form.errors else 200)
