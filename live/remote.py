"""The live operations against an OpenAI-compatible completions server, over HTTP.

``LLM_BACKEND=remote`` sends every request to ``python -m llama_cpp.server`` or llama.cpp's
own ``llama-server`` instead of the local model worker. Grammars are checked here before
they are sent (live.grammar, then llama.cpp's parser with the bundled vocabulary), since a
bad one would crash the server.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Iterator

from live.engine import bundled_vocabulary, validate_grammar_offline
from live.llm import (
    BackendUnavailable,
    Generation,
    InputError,
    LLMError,
    ModelInfo,
    NextToken,
    Perplexity,
    SamplingParams,
    StopCheck,
    TokenPiece,
    Tokenization,
    TokenProb,
    Unsupported,
    check_number,
    check_text,
    piece_text,
    stop_reason,
)


class RemoteBackend:
    """An OpenAI-compatible completions server reached over HTTP (httpx).

    What works where (``flavour`` is detected on first use: GET /props answers on
    llama.cpp's llama-server and not on llama-cpp-python's server):

    =====================  ===============================  ===============================
    operation              python -m llama_cpp.server        llama-server (llama.cpp)
    =====================  ===============================  ===============================
    next_token             /v1/completions logprobs=N;       /v1/completions logprobs=N
                           needs the server's logits_all
                           (its default); no ids/logits;
                           tokens whose text is equal merge
    generate / stream      /v1/completions (SSE); no         same; typical_p passed
                           typical_p (Unsupported)
    tokenize               /extras/tokenize + per-token      /tokenize with_pieces
                           /extras/detokenize
    perplexity             Unsupported                       Unsupported
    models                 /v1/models (ids only)             /v1/models (+ meta)
    validate_grammar       parsed locally with the bundled model's vocabulary (GBNF syntax
                           does not depend on the vocabulary)
    =====================  ===============================  ===============================

    llama_cpp.server always reuses the cached prefix shared with its previous
    request, so near-ties in greedy decoding can go either way there (see
    LocalBackend.reuse_prefix).

    Token probabilities of generated tokens are not requested (the server would
    need logprobs for each, which llama_cpp.server computes by sorting the whole
    vocabulary per token); stream events carry ``id``/``prob`` = None.
    """

    name = "remote"

    def __init__(self, base_url: str, timeout: float = 120.0, model: str | None = None,
                 api_key: str | None = None, flavour: str = "auto"):
        import httpx

        if not base_url:
            raise BackendUnavailable("no remote URL configured (LLM_REMOTE_URL)")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._flavour = None if flavour == "auto" else flavour
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)
        self._httpx = httpx

    def close(self) -> None:
        self._http.close()

    # -- HTTP helpers --------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs) -> Any:
        httpx = self._httpx
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"cannot reach {self.base_url}{path}: {exc}") from exc
        self._raise_for(response, path)
        return response.json()

    def _raise_for(self, response, path: str) -> None:
        if response.status_code < 400:
            return
        try:
            response.read()
            body = response.json()
            message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
            message = message or json.dumps(body)[:300]
        except Exception:
            message = response.text[:300]
        lowered = message.lower()
        # llama_cpp.server: "This model's maximum context length is N tokens...";
        # llama-server: "... exceeds the available context size ..." / "context window".
        if "context length" in lowered or "context size" in lowered or "context window" in lowered:
            raise InputError("prompt", message)
        if response.status_code == 404:
            raise Unsupported(f"{self.base_url} does not offer {path}")
        if response.status_code >= 500:
            raise BackendUnavailable(f"{self.base_url}{path} answered {response.status_code}: {message}")
        raise LLMError(f"{self.base_url}{path} answered {response.status_code}: {message}")

    @property
    def flavour(self) -> str:
        """"llama-server" or "llama-cpp-python"."""
        if self._flavour is None:
            try:
                response = self._http.get("/props")
            except self._httpx.HTTPError as exc:
                raise BackendUnavailable(f"cannot reach {self.base_url}: {exc}") from exc
            self._flavour = "llama-server" if response.status_code == 200 else "llama-cpp-python"
        return self._flavour

    def _completion_body(self, prompt: str, params: SamplingParams, stream: bool) -> dict:
        if params.typical_p != 1.0 and self.flavour == "llama-cpp-python":
            raise Unsupported("typical_p: llama_cpp.server's /v1/completions does not accept it")
        if params.grammar is not None:
            # The server would build LlamaGrammar.from_string and crash on a bad one.
            validate_grammar_offline(params.grammar)
        body: dict[str, Any] = {
            "prompt": prompt,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_k": params.top_k,
            "top_p": params.top_p,
            "min_p": params.min_p,
            "repeat_penalty": params.repeat_penalty,
            "frequency_penalty": params.frequency_penalty,
            "presence_penalty": params.presence_penalty,
            "stream": stream,
        }
        if params.typical_p != 1.0:
            body["typical_p"] = params.typical_p
        if params.seed is not None:
            body["seed"] = params.seed
        if params.grammar is not None:
            body["grammar"] = params.grammar
        if self.model:
            body["model"] = self.model
        return body

    # -- operations --------------------------------------------------------

    def next_token(self, prompt: str, top_n: int = 10) -> NextToken:
        check_text("prompt", prompt)
        top_n = check_number("top_n", top_n)
        started = time.perf_counter()
        body = {"prompt": prompt, "max_tokens": 1, "temperature": 0.0, "logprobs": top_n}
        if self.model:
            body["model"] = self.model
        try:
            data = self._request("POST", "/v1/completions", json=body)
        except BackendUnavailable as exc:
            if "logits_all" in str(exc):
                raise Unsupported("next_token: the server must run with logits_all=True") from exc
            raise
        choice = data["choices"][0]
        logprobs = choice.get("logprobs") or {}
        entries = _top_logprobs(logprobs)
        if entries is None:
            raise Unsupported("next_token: the server returned no top_logprobs")
        entries.sort(key=lambda e: -e[2])
        out = []
        for tid, text, logprob, raw in entries[:top_n]:
            raw_bytes = list(raw) if raw is not None else list(text.encode("utf-8"))
            out.append(TokenProb(id=tid, text=text, bytes=raw_bytes, logit=None,
                                 prob=math.exp(logprob), logprob=logprob))
        usage = data.get("usage") or {}
        return NextToken(
            tokens=out,
            entropy=None,
            n_vocab=None,
            prompt_tokens=usage.get("prompt_tokens"),
            took_ms=(time.perf_counter() - started) * 1000,
        )

    def generate(
        self, prompt: str, params: SamplingParams | None = None, should_stop: StopCheck | None = None
    ) -> Generation:
        """``should_stop`` is not consulted: the answer comes in one HTTP response."""
        params = params or SamplingParams()
        check_text("prompt", prompt)
        started = time.perf_counter()
        data = self._request("POST", "/v1/completions", json=self._completion_body(prompt, params, False))
        took = time.perf_counter() - started
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        n = usage.get("completion_tokens")
        return Generation(
            text=choice.get("text", ""),
            tokens=[],
            finish_reason=choice.get("finish_reason") or "length",
            usage={
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": n,
                "total_tokens": usage.get("total_tokens"),
            },
            tokens_per_second=(n / took) if n and took > 0 else None,
            time_to_first_token_ms=None,
            took_ms=took * 1000,
            seed=params.seed,
        )

    def stream_generate(
        self, prompt: str, params: SamplingParams | None = None, should_stop: StopCheck | None = None
    ) -> Iterator[dict[str, Any]]:
        params = params or SamplingParams()
        check_text("prompt", prompt)
        body = self._completion_body(prompt, params, True)
        return self._stream(body, params, should_stop)

    def _stream(self, body: dict, params: SamplingParams, should_stop: StopCheck | None):
        httpx = self._httpx
        started = time.perf_counter()
        first = None
        parts: list[str] = []
        count = 0
        finish = "length"
        try:
            with self._http.stream("POST", "/v1/completions", json=body) as response:
                self._raise_for(response, "/v1/completions")
                # Server-sent events: "data: {json}" lines, "data: [DONE]" at the end.
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    chunk = json.loads(payload)
                    choice = chunk["choices"][0]
                    text = choice.get("text") or ""
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if not text:
                        continue
                    if first is None:
                        first = time.perf_counter()
                    count += 1
                    parts.append(text)
                    yield {"type": "token", "text": text, "id": None, "prob": None}
                    reason = stop_reason(should_stop)
                    if reason:
                        finish = reason
                        break  # leaving the with-block closes the connection; the server stops
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"stream from {self.base_url} failed: {exc}") from exc
        took = time.perf_counter() - started
        yield {
            "type": "done",
            "finish_reason": finish,
            "text": "".join(parts),
            # Stream chunks carry no usage; each chunk is one token except where the
            # server held back a partial UTF-8 character.
            "usage": {"prompt_tokens": None, "completion_tokens": count, "total_tokens": None},
            "tokens_per_second": count / took if took > 0 else None,
            "time_to_first_token_ms": (first - started) * 1000 if first else None,
            "took_ms": took * 1000,
            "seed": params.seed,
        }

    def tokenize(self, text: str, add_bos: bool = True) -> Tokenization:
        check_text("text", text)
        if self.flavour == "llama-server":
            data = self._request("POST", "/tokenize",
                                 json={"content": text, "add_special": add_bos, "with_pieces": True})
            pieces = []
            for item in data["tokens"]:
                piece = item["piece"]
                if isinstance(piece, list):  # llama-server sends bytes for invalid UTF-8
                    raw = bytes(piece)
                    shown, partial = piece_text(raw)
                    pieces.append(TokenPiece(item["id"], shown, list(raw), partial))
                else:
                    pieces.append(TokenPiece(item["id"], piece, list(piece.encode("utf-8")), False))
            return Tokenization(tokens=pieces, count=len(pieces))
        # llama_cpp.server: ids from /extras/tokenize (always with BOS, special
        # tokens parsed), text per id from /extras/detokenize, which decodes strictly
        # and fails on a piece that is not whole UTF-8.
        body = {"input": text}
        if self.model:
            body["model"] = self.model
        ids = self._request("POST", "/extras/tokenize", json=body)["tokens"]
        if not add_bos and ids and self._is_bos(ids[0]):
            ids = ids[1:]
        pieces = []
        for tid in ids:
            try:
                shown = self._request("POST", "/extras/detokenize", json={"tokens": [tid]})["text"]
                pieces.append(TokenPiece(tid, shown, list(shown.encode("utf-8")), False))
            except BackendUnavailable:  # the server's strict UTF-8 decode failed (HTTP 500)
                pieces.append(TokenPiece(tid, "\ufffd", None, True))
        return Tokenization(tokens=pieces, count=len(ids))

    def _is_bos(self, token: int) -> bool:
        # Only knowable for the bundled vocabulary; used to honour add_bos=False.
        return token == bundled_vocabulary().bos

    def perplexity(self, text: str, should_stop: StopCheck | None = None) -> Perplexity:
        raise Unsupported(
            "perplexity: needs per-position logits; OpenAI-compatible servers only give "
            "top log-probabilities of generated tokens"
        )

    def models(self) -> list[ModelInfo]:
        data = self._request("GET", "/v1/models")
        out = []
        for item in data.get("data", []):
            meta = item.get("meta") or {}  # llama-server adds n_params, size, n_ctx_train
            out.append(
                ModelInfo(
                    name=item.get("id", "?"),
                    file_name=None,
                    architecture=None,
                    parameters=meta.get("n_params"),
                    file_type=None,
                    context_length=meta.get("n_ctx_train"),
                    file_size=meta.get("size"),
                    bits_per_weight=None,
                    loaded=True,
                )
            )
        return out

    def validate_grammar(self, grammar: str) -> None:
        validate_grammar_offline(grammar)


def _top_logprobs(logprobs: dict) -> list[tuple[int | None, str, float, bytes | None]] | None:
    """(id, text, logprob, bytes) for the first generated position, from either
    shape servers use: llama_cpp.server's OpenAI-legacy ``top_logprobs: [{text:
    logprob}]`` or llama-server's ``content: [{top_logprobs: [{id, token, logprob,
    bytes}]}]``."""
    top = logprobs.get("top_logprobs")
    if top:
        first = top[0]
        if isinstance(first, dict):
            return [(None, text, float(lp), None) for text, lp in first.items()]
    content = logprobs.get("content")
    if content:
        items = content[0].get("top_logprobs") or []
        return [
            (item.get("id"), item.get("token", ""), float(item["logprob"]),
             bytes(item["bytes"]) if item.get("bytes") is not None else None)
            for item in items
        ]
    return None
