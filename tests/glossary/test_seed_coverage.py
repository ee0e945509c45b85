"""Every concept the seed documents explain has an entry, found the way tools find it:
through GET /api/v1/lookup/ with the spelling people type."""

import pytest

# Concepts named in ../shared/seeds/ (the issue's list, in the seeds' own spellings).
SEED_CONCEPTS = [
    # model names
    "parameter count", "A4B", "active parameters", "Instruct", "GGUF", "UD-Q4_K_XL",
    # formats
    "GGML", "safetensors", "MLX", "TensorRT",
    # data types
    "FP32", "FP16", "BF16", "INT8", "INT4", "NF4",
    # quantization
    "quantization", "legacy quants", "K-quants", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q3_K_L", "imatrix",
    "IQ quants", "GPTQ", "AWQ", "QuIP#", "EXL2", "PTQ", "QAT", "double quantization",
    "LLM.int8()", "outlier features", "bits per weight",
    # fine-tuning
    "PEFT", "LoRA", "QLoRA", "DoRA", "LoRA rank", "LoRA alpha", "LoRA dropout", "target modules",
    "SFT", "completion-only SFT", "paged optimizers", "pretraining", "full fine-tuning",
    # alignment
    "RLHF", "reward model", "PPO", "DPO",
    # runtime options
    "GPU offload", "threads", "batch size", "parallel slots", "RoPE frequency base",
    "RoPE scaling", "KV cache", "KV cache quantization", "mmap", "flash attention",
    "MoE expert offload", "mlock",
    # architecture
    "transformer", "self-attention", "Q/K/V projections", "GQA", "context length", "token",
    "tokenizer", "MoE", "router", "RWKV", "Mamba",
    # sampling
    "logits", "temperature", "top-k", "top-p", "min-p", "typical sampling", "repetition penalty",
    "mirostat", "greedy decoding", "beam search",
    # merging
    "SLERP", "DARE-TIES", "frankenmerge", "FrankenMoE", "model merging",
    # evaluation
    "perplexity", "ROUGE", "BLEU", "MAUVE", "LLM-as-a-judge",
    # serving
    "S-LoRA", "federated SLoRA",
    # tools and models
    "llama.cpp", "Transformers", "bitsandbytes", "Unsloth", "LLaMA-Factory", "Llama", "Mistral",
    "Mixtral", "Hugging Face", "GBNF",
    # beyond the seeds
    "speculative decoding", "continuous batching", "paged attention", "sliding window attention",
    "YaRN", "FP8", "MXFP4", "KL divergence", "chat template", "ORPO", "KTO", "GRPO", "MLA",
]


@pytest.mark.django_db
@pytest.mark.parametrize("concept", SEED_CONCEPTS)
def test_every_seed_concept_has_an_entry(api_client, glossary, concept):
    response = api_client.get("/api/v1/lookup/", {"q": concept})
    assert response.status_code == 200, f"no entry answers to {concept!r}"


def test_the_glossary_has_at_least_150_entries(glossary):
    assert glossary.count() >= 150
