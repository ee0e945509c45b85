"""Note search respects visibility: the ranking functions the site search merges never
return a note the user may not read."""

import logging

import pytest
from django.contrib.auth.models import AnonymousUser

from notes.models import Note, NoteChunk
from notes.search import keyword_ranking, note_results, semantic_ranking

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_notes(member, make_note):
    """The same subject at each visibility, by `member`."""
    return {
        visibility: make_note(member, f"Flash attention {visibility}",
                              body="Flash attention tiles the softmax so the attention matrix "
                                   "never sits in GPU memory whole.",
                              visibility=visibility)
        for visibility in ("private", "team", "public")
    }


def expected(three_notes, *visibilities):
    return {three_notes[v].pk for v in visibilities}


@pytest.mark.parametrize("ranking", ["keyword", "semantic"])
def test_rankings_return_only_notes_the_user_may_read(ranking, three_notes, member, other_member,
                                                      staff, embeddings):
    rank = {"keyword": keyword_ranking, "semantic": semantic_ranking}[ranking]
    query = "flash attention softmax tiles"
    assert set(rank(query, AnonymousUser(), 10)) == expected(three_notes, "public")
    assert set(rank(query, None, 10)) == expected(three_notes, "public")
    assert set(rank(query, other_member, 10)) == expected(three_notes, "team", "public")
    assert set(rank(query, member, 10)) == expected(three_notes, "private", "team", "public")
    assert set(rank(query, staff, 10)) == expected(three_notes, "private", "team", "public")


@pytest.mark.parametrize("ranking", ["keyword", "semantic"])
def test_deleted_notes_drop_out_of_search(ranking, three_notes, member, embeddings):
    rank = {"keyword": keyword_ranking, "semantic": semantic_ranking}[ranking]
    three_notes["public"].soft_delete(by=member)
    assert set(rank("flash attention", member, 10)) == expected(three_notes, "private", "team")


def test_an_inactive_user_is_a_reader(three_notes, member):
    member.is_active = False
    assert set(keyword_ranking("flash attention", member, 10)) == expected(three_notes, "public")


def test_keyword_ranking_weights_the_title_above_the_body(member, make_note):
    in_body = make_note(member, "Memory planning", body="Notes on quantization of the KV cache.",
                        visibility="public")
    in_title = make_note(member, "Quantization", body="Which formats to try first.", visibility="public")
    assert keyword_ranking("quantization", None, 10) == [in_title.pk, in_body.pk]


def test_keyword_ranking_falls_back_to_title_similarity_for_typos(member, make_note):
    note = make_note(member, "Quantization tips", body="k-quants", visibility="public")
    assert keyword_ranking("quantisaton", None, 10) == [note.pk]


def test_semantic_ranking_finds_a_note_by_meaning(member, make_note, embeddings):
    lora = make_note(member, "Adapters", body="Low-rank adapters train two small matrices per layer "
                                               "instead of the full weights.", visibility="public")
    make_note(member, "Sampling", body="Temperature divides the logits before the softmax.",
              visibility="public")
    assert semantic_ranking("parameter-efficient fine-tuning with small matrices", None, 2)[0] == lora.pk


def test_saving_a_note_embeds_its_passages_and_editing_keeps_them_current(member, make_note, embeddings):
    note = make_note(member, "Rope", body="Rotary position embeddings rotate query and key pairs.")
    chunks = list(NoteChunk.objects.filter(note=note))
    assert chunks and all(c.embedding is not None for c in chunks)
    assert "Rotary position embeddings" in chunks[-1].text
    note.apply_edit({"body": "Completely different text about YaRN scaling."}, author=member)
    assert "YaRN" in NoteChunk.objects.filter(note=note).last().text
    assert not NoteChunk.objects.filter(note=note, text__contains="Rotary").exists()


def test_a_failing_embedding_model_is_logged_and_the_note_is_saved(member, embeddings, monkeypatch, caplog):
    def broken(texts):
        raise RuntimeError("model files missing")

    monkeypatch.setattr("glossary.embeddings.encode", broken)
    note = Note(author=member)
    with caplog.at_level(logging.WARNING, logger="notes.models"):
        note.apply_edit({"title": "Still saved", "body": "text"}, author=member)
    assert Note.objects.get(pk=note.pk).title == "Still saved"
    assert "model files missing" in caplog.text
    assert keyword_ranking("saved", member, 5) == [note.pk]  # keyword search still works


def test_note_results_recheck_visibility_and_highlight(three_notes, other_member):
    ids = [n.pk for n in three_notes.values()]
    results = note_results(ids, "softmax", other_member, {ids[1]: 0.5})
    assert [r.id for r in results] == expected_order(three_notes, "team", "public")
    assert results[0].type == "note" and results[0].url == f"/notes/{results[0].id}/"
    assert "<mark>softmax</mark>" in results[0].snippet and results[0].score == 0.5


def expected_order(three_notes, *visibilities):
    return [three_notes[v].pk for v in visibilities]
