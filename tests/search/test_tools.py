"""Tools as search answers: their pages exist, and the memory calculator opens filled in."""

import re

import pytest

from search.tools import TOOLS, memory_prefill, url_for


@pytest.mark.parametrize("question, expected", [
    ("will a 70B model fit on two 3090s", {"model": "llama-3.3-70b", "gpu": "rtx-3090", "gpu_count": "2"}),
    ("llama 3.1 8b q4_k_m on a 4060 ti with 32k context",
     {"model": "llama-3.1-8b", "quant": "Q4_K_M", "gpu": "rtx-4060-ti-16gb", "context_length": "32768"}),
    ("Mixtral 8x7B at Q5_K_M on 4x A100 40GB",
     {"model": "mixtral-8x7b-v0.1", "quant": "Q5_K_M", "gpu": "a100-40gb", "gpu_count": "4"}),
    ("run mistral 7b on an rtx 3060", {"model": "mistral-7b-v0.3", "gpu": "rtx-3060-12gb"}),
    ("how many gb is an 8b model at q8", {"model": "llama-3.1-8b", "quant": "Q8_0"}),
    ("will llama 70b fit in 48gb", {"model": "llama-3.3-70b", "gpu": "custom", "vram_gb": "48"}),
    ("my model does not fit on a 24 GB graphics card", {"gpu": "custom", "vram_gb": "24"}),
    ("64 gb of ram and a 3060", {"gpu": "rtx-3060-12gb"}),
    ("what is the KV cache", {}),
])
def test_the_memory_calculator_reads_model_quant_gpu_and_context_from_a_question(question, expected):
    assert memory_prefill(question) == expected


def test_the_memory_calculator_and_the_name_decoder_take_a_question_as_input():
    assert url_for("memory", "gemma 3 270m") == "/calculators/memory/?model=gemma-3-270m"
    assert url_for("memory", "what fits") == "/calculators/memory/"
    assert url_for("model-name", "what does Qwen3-30B-A3B mean") == "/calculators/model-name/?name=Qwen3-30B-A3B"
    assert url_for("model-name", "what does A3B mean") == "/calculators/model-name/"
    assert url_for("sampling", "llama 3.1 8b") == "/calculators/sampling/"


@pytest.mark.django_db
@pytest.mark.parametrize("key", sorted(TOOLS))
def test_every_tool_page_exists(client, key):
    assert client.get(TOOLS[key].url).status_code == 200


@pytest.mark.django_db
def test_the_prefilled_memory_page_shows_what_the_question_named(client):
    html = client.get(url_for("memory", "will llama 3.1 70b at Q4_K_M fit on two rtx 4090s")).content.decode()
    assert re.search(r'<option value="llama-3.1-70b" selected>', html)
    assert re.search(r'<option value="Q4_K_M" selected>', html)
    assert re.search(r'<option value="rtx-4090" selected>', html)
    assert re.search(r'<input id="id_gpu_count"[^>]*value="2"', html)
    custom = client.get(url_for("memory", "will llama 70b fit in 48gb")).content.decode()
    assert re.search(r'<input id="id_vram_gb"[^>]*value="48"', custom)


@pytest.mark.django_db
def test_tools_are_documents_after_migrate():
    from search.models import Document

    assert set(Document.objects.filter(kind="tool").values_list("tool", flat=True)) == set(TOOLS)
