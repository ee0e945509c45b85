"""The live-model API under /api/v1/llm/ (issue #6): thin views over live.service.

- `POST next-token/`: the model's top-N next tokens, entropy of the full distribution.
- `POST generate/`: a completion (JSON), or with `"stream": true` Server-Sent Events.
- `POST tokenize/`: token ids, pieces and bytes.
- `POST perplexity/`: perplexity of a text, scored like llama-perplexity scores a window.
- `POST grammar/`: check a GBNF grammar, or turn a JSON schema into one.
- `GET models/`: the configured model(s), with metadata read from the GGUF header.

Requests are checked twice: by the serializers here (types and ranges, so a bad field
never reaches the queue) and again by the service (its own limits, which the serializer
ranges are read from, live.grammar's static grammar checks, and what only the model knows:
prompt length in tokens, llama.cpp's own grammar parse). Service errors map to HTTP
without a 500 (see `error_response`), the model worker's failures included: a grammar
that made llama.cpp abort is a 400 naming it, a worker that died or ran out of time a 503
with Retry-After. Generation stops when the client disconnects, streamed or not.

These endpoints compute and store nothing, so anyone may call them, without CSRF, like
the calculators: the single model is protected by the service's bounded queue (503 with
Retry-After when it is full), not by accounts.
"""

from __future__ import annotations

import functools
import json
import logging
import time

from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import (
    api_view, authentication_classes, parser_classes, permission_classes, renderer_classes,
)
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from config.api import JSONParser
from live import web
from live.llm import (
    GRAMMAR_MAX_CHARS,
    LIMITS,
    PROMPT_MAX_CHARS,
    BackendUnavailable,
    ClientGone,
    InputError,
    LLMError,
    OverTime,
    QueueFull,
    QueueTimeout,
    SamplingParams,
    Unsupported,
    WorkerRestarting,
)

logger = logging.getLogger(__name__)

#: Retry-After for a request that timed out in the queue: the queue was full of work a
#: moment ago, so "soon" rather than the (unknown) time the current holder needs.
QUEUE_TIMEOUT_RETRY_AFTER = 5


#: Error bodies: {"<field>": ["message"]} for bad input, {"detail": "..."} otherwise.
ERROR = OpenApiTypes.OBJECT


# --- errors ------------------------------------------------------------------------------

#: nginx's status for "the client closed the connection": nobody reads it, but the log does.
CLIENT_CLOSED_REQUEST = 499


def error_response(exc: LLMError) -> Response:
    """The HTTP answer for an error the service raises on purpose."""
    if isinstance(exc, InputError):
        return Response({exc.field: [exc.message]}, status=400)
    if isinstance(exc, QueueFull):
        return Response(
            {"detail": f"The model is busy: {exc.waiting} request(s) are already waiting. "
                       f"Retry in {exc.retry_after} s."},
            status=503, headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, QueueTimeout):
        return Response(
            {"detail": f"The model stayed busy with other requests ({exc}). "
                       f"Retry in {QUEUE_TIMEOUT_RETRY_AFTER} s."},
            status=503, headers={"Retry-After": str(QUEUE_TIMEOUT_RETRY_AFTER)})
    if isinstance(exc, (WorkerRestarting, OverTime)):
        return Response({"detail": f"The model could not answer: {exc}. Retry in {exc.retry_after} s."},
                        status=503, headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, BackendUnavailable):
        return Response({"detail": f"The model is unavailable: {exc}"}, status=503)
    if isinstance(exc, ClientGone):
        return Response({"detail": "The client closed the connection; the request was cancelled."},
                        status=CLIENT_CLOSED_REQUEST)
    if isinstance(exc, Unsupported):
        return Response({"detail": f"Not supported by this model server: {exc}"}, status=501)
    # Anything else the layer raises on purpose (a remote server's unexpected answer,
    # a failed llama_decode): the model could not answer; the request itself was fine.
    return Response({"detail": f"The model could not answer: {exc}"}, status=503)


def answers_llm_errors(view):
    """Turn the service's errors into answers (inside @api_view, so DRF renders them)."""
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except LLMError as exc:
            return error_response(exc)
    return wrapper


class AlwaysJSON(DefaultContentNegotiation):
    """Answers are JSON whatever the Accept header says. A client of the stream may send
    `Accept: text/event-stream`; when the stream cannot start (bad input, busy model) there
    are no events to send, and the error is JSON with its status, as documented."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def llm_api(view):
    """The decorators every endpoint here shares (below @api_view): open to anyone, JSON in
    and out, service errors answered."""
    view = answers_llm_errors(view)
    view.content_negotiation_class = AlwaysJSON
    view = renderer_classes([JSONRenderer])(view)
    view = parser_classes([JSONParser])(view)
    view = permission_classes([AllowAny])(view)
    return authentication_classes([])(view)  # nothing stored: no account, no CSRF


# --- request fields ----------------------------------------------------------------------

class StrictFloatField(serializers.FloatField):
    """FloatField that refuses true/false (DRF would read true as 1.0)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


def limited(name: str, help_text: str, **kwargs):
    """A number field with the service's own range for `name` (live.llm.LIMITS)."""
    kind, low, high = LIMITS[name]
    field = StrictIntegerField if kind is int else StrictFloatField
    span = f"{low} to {high}" if kind is int else f"{low:g} to {high:g}"
    return field(min_value=low, max_value=high, help_text=f"{help_text} ({span})", **kwargs)


def prompt_field(name="prompt"):
    return serializers.CharField(
        max_length=PROMPT_MAX_CHARS, trim_whitespace=False,
        help_text=f"text the model reads (at most {PROMPT_MAX_CHARS:,} characters, and it must fit the "
                  "context in tokens)")


# Names an unknown key instead of ignoring it: a typo ("temp") must not silently fall back
# to a default. (A comment, not a docstring: drf-spectacular would print a docstring as the
# description of every request schema.)
class StrictSerializer(serializers.Serializer):

    def to_internal_value(self, data):
        if isinstance(data, dict):
            # A key JSON spelled with a lone surrogate ("\ud800") has no UTF-8 form: it is
            # named by its escape instead, so that the answer can be written at all.
            unknown = sorted(str(key).encode("utf-8", "backslashreplace").decode() for key in data
                             if key not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: [f"unknown field; expected one of {', '.join(self.fields)}"]})
        return super().to_internal_value(data)


@extend_schema_field({"oneOf": [{"type": "object", "additionalProperties": True}, {"type": "string"}],
                      "description": "a JSON schema (object), or its JSON text"})
class JSONSchemaField(serializers.Field):
    def to_internal_value(self, data):
        if not isinstance(data, (dict, str)):
            raise serializers.ValidationError("must be a JSON schema: an object, or its JSON text")
        text = data if isinstance(data, str) else json.dumps(data)
        if len(text) > GRAMMAR_MAX_CHARS:
            raise serializers.ValidationError(f"must be at most {GRAMMAR_MAX_CHARS:,} characters of JSON")
        return data

    def to_representation(self, value):
        return value


# --- next token --------------------------------------------------------------------------

class NextTokenRequestSerializer(StrictSerializer):
    prompt = prompt_field()
    top_n = limited("top_n", "how many of the most likely tokens to return", required=False, default=10)


class CandidateSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="token id (null from some remote servers)")
    text = serializers.CharField(help_text="the token's text; U+FFFD where its bytes are not whole UTF-8")
    bytes = serializers.ListField(child=serializers.IntegerField(), help_text="the token's raw bytes")
    logit = serializers.FloatField(allow_null=True, help_text="raw logit (null where a remote server "
                                                              "reports only log-probabilities)")
    prob = serializers.FloatField(help_text="softmax probability over the whole vocabulary, temperature 1")
    logprob = serializers.FloatField(help_text="natural log of prob")


class NextTokenResponseSerializer(serializers.Serializer):
    tokens = CandidateSerializer(many=True, help_text="most likely first")
    entropy = serializers.FloatField(allow_null=True, help_text="Shannon entropy of the full distribution, "
                                                                "in nats (null: only the top-N is known)")
    n_vocab = serializers.IntegerField(allow_null=True)
    prompt_tokens = serializers.IntegerField(allow_null=True, help_text="tokens in the prompt, BOS included")
    took_ms = serializers.FloatField()


@extend_schema(
    summary="The model's next-token distribution for a prompt (top N)",
    description="Raw softmax of the last position's logits (temperature 1, no sampler). Each prompt "
                "is evaluated afresh, so the numbers equal a fresh llama.cpp evaluation.",
    request=NextTokenRequestSerializer,
    responses={200: NextTokenResponseSerializer,
               400: OpenApiResponse(response=ERROR, description='{"<field>": ["message"]}'),
               503: OpenApiResponse(response=ERROR, description="model busy (Retry-After) or unavailable")},
    examples=[OpenApiExample("Paris?", request_only=True, value={"prompt": "The capital of France is",
                                                                  "top_n": 5})],
)
@api_view(["POST"])
@llm_api
def next_token_api(request):
    data = NextTokenRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    result = web.service().next_token(data.validated_data["prompt"], top_n=data.validated_data["top_n"])
    return Response(result.to_dict())


# --- generate ----------------------------------------------------------------------------

SAMPLER_FIELDS = ("temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty",
                  "frequency_penalty", "presence_penalty", "seed")
_DEFAULTS = SamplingParams()


class GenerateRequestSerializer(StrictSerializer):
    prompt = prompt_field()
    max_tokens = limited("max_tokens", f"tokens to generate at most; default {_DEFAULTS.max_tokens}",
                         required=False)
    temperature = limited("temperature", f"0 = greedy; default {_DEFAULTS.temperature}", required=False)
    top_k = limited("top_k", f"0 = off; default {_DEFAULTS.top_k}", required=False)
    top_p = limited("top_p", f"1 = off; default {_DEFAULTS.top_p}", required=False)
    min_p = limited("min_p", f"0 = off; default {_DEFAULTS.min_p}", required=False)
    typical_p = limited("typical_p", f"1 = off; default {_DEFAULTS.typical_p}", required=False)
    repeat_penalty = limited("repeat_penalty", f"1 = off; default {_DEFAULTS.repeat_penalty}", required=False)
    frequency_penalty = limited("frequency_penalty", "0 = off", required=False)
    presence_penalty = limited("presence_penalty", "0 = off", required=False)
    seed = limited("seed", "same seed and settings, same text; null or absent = a random seed",
                   required=False, allow_null=True)
    grammar = serializers.CharField(
        required=False, allow_null=True, max_length=GRAMMAR_MAX_CHARS, trim_whitespace=False,
        help_text="a GBNF grammar (llama.cpp's format; the start rule is `root`) the output must follow")
    json_schema = JSONSchemaField(
        required=False, allow_null=True,
        help_text="instead of a grammar: a JSON schema, turned into GBNF by llama.cpp's "
                  "json-schema-to-grammar (as ported in llama-cpp-python)")
    stream = serializers.BooleanField(
        required=False, default=False,
        help_text="answer with Server-Sent Events: `event: token` per token, then `event: done`")

    def validate(self, attrs):
        if attrs.get("grammar") is not None and attrs.get("json_schema") is not None:
            raise serializers.ValidationError({"json_schema": ["give a grammar or a json_schema, not both"]})
        return attrs


class GeneratedTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    text = serializers.CharField()
    prob = serializers.FloatField(allow_null=True, help_text="the model's own probability for this token at "
                                                             "that step (raw softmax, before samplers)")


class TokenUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    total_tokens = serializers.IntegerField(allow_null=True)


class GenerateResponseSerializer(serializers.Serializer):
    text = serializers.CharField()
    tokens = GeneratedTokenSerializer(many=True)
    finish_reason = serializers.ChoiceField(
        ["stop", "length", "cancelled", "time_limit"],
        help_text="stop: the model ended; length: max_tokens; cancelled: the client went away; time_limit: the "
                  "request's time budget (LLM_REQUEST_TIMEOUT) ran out")
    usage = TokenUsageSerializer()
    tokens_per_second = serializers.FloatField(allow_null=True, help_text="completion tokens / wall time of "
                                                                          "the call, prompt evaluation included")
    time_to_first_token_ms = serializers.FloatField(allow_null=True)
    took_ms = serializers.FloatField()
    seed = serializers.IntegerField(allow_null=True, help_text="the seed used (pass it back to repeat the text)")


SSE_DESCRIPTION = (
    "With `\"stream\": true`: `text/event-stream`. One `event: token` per token, data "
    '`{"text", "id", "prob"}`; then one `event: done`, data `{"finish_reason", "text", "usage", '
    '"tokens_per_second", "time_to_first_token_ms", "took_ms", "seed"}`. An error after the stream '
    'started comes as `event: error`, data `{"detail"}` (and `{"<field>": ["message"]}` when the input caused '
    'it). Closing the connection stops the generation.'
)


class StreamEventSerializer(serializers.Serializer):
    """One Server-Sent Event of a streamed generation (OpenAPI 3.0 has the schema of an
    event-stream media type describe each event)."""

    event = serializers.ChoiceField(["token", "done", "error"])
    data = serializers.CharField(help_text='JSON text: token {"text", "id", "prob"}; done {"finish_reason", "text", '
                                           '"usage", "tokens_per_second", ...}; error {"detail", "<field>"?}')


def sse(event: str, data) -> bytes:
    # json.dumps writes no raw newline, so each event's data is one line.
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class EventStream:
    """The SSE body of a streamed generation. Django calls close() when the response
    ends or the client goes away; that closes the TokenStream, which stops generation
    and gives the model back. ``renamed`` maps a service field name to the API's (a
    grammar made from json_schema)."""

    def __init__(self, stream, renamed: dict[str, str] | None = None):
        self.stream = stream
        self.renamed = renamed or {}

    def __iter__(self):
        yield b": generating\n\n"  # gets the headers out before the prompt is evaluated
        try:
            for event in self.stream:
                if event["type"] == "token":
                    yield sse("token", {"text": event["text"], "id": event["id"], "prob": event["prob"]})
                else:
                    yield sse("done", {k: v for k, v in event.items() if k != "type"})
        except ClientGone:
            pass  # nobody to tell
        except LLMError as exc:
            if isinstance(exc, InputError):
                field = self.renamed.get(exc.field, exc.field)
                yield sse("error", {"detail": f"{field}: {exc.message}", field: [exc.message]})
            else:
                yield sse("error", {"detail": error_response(exc).data.get("detail") or str(exc)})
        except Exception:  # the 200 is already sent; say what happened instead of cutting the stream
            logger.exception("streamed generation failed")
            yield sse("error", {"detail": "The generation failed on the server."})
        finally:
            self.stream.close()

    def close(self):
        self.stream.close()


def generation_settings(validated: dict) -> dict:
    settings = {name: validated[name] for name in ("max_tokens", *SAMPLER_FIELDS) if name in validated}
    if validated.get("grammar") is not None:
        settings["grammar"] = validated["grammar"]
    elif validated.get("json_schema") is not None:
        settings["grammar"] = web.service().json_schema_to_grammar(validated["json_schema"])
    return settings


@extend_schema(
    summary="Generate a completion (JSON, or a Server-Sent Events stream)",
    description="llama-cpp-python's sampler chain (penalties → grammar → top-k → typical → top-p → min-p → "
                "temperature), with its defaults for anything left out. Temperature 0 is greedy and gives "
                "the same text as llama.cpp's create_completion(temperature=0). " + SSE_DESCRIPTION,
    request=GenerateRequestSerializer,
    responses={
        (200, "application/json"): GenerateResponseSerializer,
        (200, "text/event-stream"): OpenApiResponse(response=StreamEventSerializer, description=SSE_DESCRIPTION),
        400: OpenApiResponse(response=ERROR, description='{"<field>": ["message"]}, e.g. an invalid grammar'),
        501: OpenApiResponse(response=ERROR, description="the configured model server cannot do this (e.g. typical_p remotely)"),
        503: OpenApiResponse(response=ERROR, description="model busy (Retry-After) or unavailable"),
    },
    examples=[
        OpenApiExample("Greedy", request_only=True, value={"prompt": "Once upon a time", "max_tokens": 32,
                                                           "temperature": 0}),
        OpenApiExample("JSON schema", request_only=True, value={
            "prompt": "A person as JSON:", "max_tokens": 96, "temperature": 0,
            "json_schema": {"type": "object", "properties": {"name": {"type": "string"},
                                                             "age": {"type": "integer"}},
                            "required": ["name", "age"]}}),
        OpenApiExample("Streamed", request_only=True, value={"prompt": "Once upon a time", "stream": True}),
    ],
)
@api_view(["POST"])
@llm_api
def generate_api(request):
    data = GenerateRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    prompt = data.validated_data["prompt"]
    settings = generation_settings(data.validated_data)
    # A grammar made from a schema: what is wrong with it is the schema's fault.
    renamed = {"grammar": "json_schema"} if data.validated_data.get("json_schema") is not None else {}
    client = web.ClientConnection.of(request)
    try:
        if not data.validated_data["stream"]:
            return Response(web.service().generate(prompt, should_stop=client, **settings).to_dict())
        # Raises InputError / QueueFull / QueueTimeout now, before any byte is sent.
        stream = web.service().stream_generate(prompt, should_stop=client, **settings)
    except InputError as exc:
        raise InputError(renamed.get(exc.field, exc.field), exc.message) from exc
    response = StreamingHttpResponse(EventStream(stream, renamed), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


# --- tokenize ----------------------------------------------------------------------------

class TokenizeRequestSerializer(StrictSerializer):
    text = prompt_field("text")
    add_bos = serializers.BooleanField(required=False, default=True,
                                       help_text="start with the BOS token, as a prompt does")


class PieceSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    text = serializers.CharField(help_text="U+FFFD where the piece is not whole UTF-8 on its own")
    bytes = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    partial = serializers.BooleanField(help_text="true for a piece that is part of a multi-byte character")


class TokenizeResponseSerializer(serializers.Serializer):
    tokens = PieceSerializer(many=True)
    count = serializers.IntegerField()
    took_ms = serializers.FloatField()


@extend_schema(
    summary="Tokenize a text with the model's own tokenizer",
    description="What llama.cpp feeds the model for this text: the BOS token (unless add_bos is false), then "
                "the text's tokens with special tokens such as <start_of_turn> parsed.",
    request=TokenizeRequestSerializer,
    responses={200: TokenizeResponseSerializer, 400: OpenApiResponse(response=ERROR, description='{"text": ["message"]}')},
    examples=[OpenApiExample("Text", request_only=True, value={"text": "Hello, world!"})],
)
@api_view(["POST"])
@llm_api
def tokenize_api(request):
    data = TokenizeRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    started = time.perf_counter()
    result = web.service().tokenize(data.validated_data["text"], add_bos=data.validated_data["add_bos"])
    return Response({**result.to_dict(), "took_ms": (time.perf_counter() - started) * 1000})


# --- perplexity --------------------------------------------------------------------------

class PerplexityRequestSerializer(StrictSerializer):
    text = prompt_field("text")


class ScoredTokenSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="index in the tokenized text (BOS is 0)")
    id = serializers.IntegerField()
    text = serializers.CharField()
    nll = serializers.FloatField(help_text="−ln p(token | everything before it), in nats")
    prob = serializers.FloatField()


class PerplexityResponseSerializer(serializers.Serializer):
    perplexity = serializers.FloatField(help_text="exp(mean NLL) over the scored tokens")
    mean_nll = serializers.FloatField(help_text="mean NLL per scored token, in nats")
    nll_per_token = serializers.ListField(child=serializers.FloatField(),
                                          help_text="NLL of each scored token, in nats, in text order")
    tokens = ScoredTokenSerializer(many=True)
    n_tokens = serializers.IntegerField(help_text="tokens in the text, BOS included")
    n_scored = serializers.IntegerField()
    first = serializers.IntegerField(help_text="tokens 0..first are context only (the first half, as "
                                               "llama-perplexity does); first+1..n_tokens-1 are scored")
    took_ms = serializers.FloatField()
    tokens_per_second = serializers.FloatField(allow_null=True,
                                               help_text="n_tokens / wall time: prompt-evaluation speed")


@extend_schema(
    summary="Perplexity of a text under the model",
    description="Scored as llama.cpp's llama-perplexity scores one window: BOS + the text's tokens, the first "
                "half as context, each token of the second half scored from the logits before it.",
    request=PerplexityRequestSerializer,
    responses={200: PerplexityResponseSerializer,
               400: OpenApiResponse(response=ERROR, description='{"text": ["message"]}, e.g. longer than the context'),
               501: OpenApiResponse(response=ERROR, description="remote model servers cannot score text")},
)
@api_view(["POST"])
@llm_api
def perplexity_api(request):
    data = PerplexityRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    result = web.service().perplexity(data.validated_data["text"],
                                      should_stop=web.ClientConnection.of(request)).to_dict()
    # The issue's contract: nll_per_token is the list; the service's mean is mean_nll.
    result["mean_nll"] = result.pop("nll_per_token")
    result["nll_per_token"] = [t["nll"] for t in result["tokens"]]
    took = result["took_ms"] / 1000
    result["tokens_per_second"] = result["n_tokens"] / took if took > 0 else None
    return Response(result)


# --- grammar -----------------------------------------------------------------------------

class GrammarRequestSerializer(StrictSerializer):
    grammar = serializers.CharField(required=False, max_length=GRAMMAR_MAX_CHARS, trim_whitespace=False,
                                    help_text="a GBNF grammar to check")
    json_schema = JSONSchemaField(required=False, help_text="or a JSON schema to turn into GBNF")

    def validate(self, attrs):
        if ("grammar" in attrs) == ("json_schema" in attrs):
            raise serializers.ValidationError({"grammar": ["give a grammar or a json_schema (one of them)"]})
        return attrs


class GrammarResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    grammar = serializers.CharField(help_text="the grammar checked (for a JSON schema: the GBNF made from it)")


@extend_schema(
    summary="Check a GBNF grammar, or turn a JSON schema into one",
    description="Checked statically first (syntax; no empty or reversed character ranges, NUL, token "
                "references or repetitions out of order; bounded size, nesting and alternatives open at once), "
                "then parsed by llama.cpp's own grammar parser. An invalid grammar is a 400 with the reason "
                "(it never reaches the sampler).",
    request=GrammarRequestSerializer,
    responses={200: GrammarResponseSerializer,
               400: OpenApiResponse(response=ERROR, description='{"grammar": ["invalid GBNF: ..."]} or {"json_schema": [...]}')},
    examples=[OpenApiExample("Yes or no", request_only=True, value={"grammar": 'root ::= "yes" | "no"'})],
)
@api_view(["POST"])
@llm_api
def grammar_api(request):
    data = GrammarRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    if "json_schema" in data.validated_data:
        grammar = web.service().json_schema_to_grammar(data.validated_data["json_schema"])
    else:
        grammar = data.validated_data["grammar"]
        web.service().validate_grammar(grammar)
    return Response({"valid": True, "grammar": grammar})


# --- models ------------------------------------------------------------------------------

class LLMModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    file_name = serializers.CharField(allow_null=True, help_text="the GGUF file's name (null for a remote server)")
    architecture = serializers.CharField(allow_null=True)
    parameters = serializers.IntegerField(allow_null=True)
    file_type = serializers.CharField(allow_null=True, help_text='the quant recipe, e.g. "Q4_K_M"')
    context_length = serializers.IntegerField(allow_null=True, help_text="the context the model was trained for")
    file_size = serializers.IntegerField(allow_null=True, help_text="bytes")
    bits_per_weight = serializers.FloatField(allow_null=True, help_text="tensor bytes × 8 / parameters")
    tensor_types = serializers.DictField(child=serializers.IntegerField(),
                                         help_text="ggml type → number of tensors stored in it")
    loaded = serializers.BooleanField()


class LLMStatusSerializer(serializers.Serializer):
    backend = serializers.ChoiceField(["local", "remote"])
    busy = serializers.BooleanField()
    waiting = serializers.IntegerField()
    queue_size = serializers.IntegerField()
    loaded = serializers.BooleanField()


class ModelsResponseSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = LLMModelSerializer(many=True)
    status = LLMStatusSerializer()


@extend_schema(
    summary="The configured model(s), with GGUF metadata",
    description="Read from the GGUF header (architecture, parameters, quant recipe, real bits per weight, "
                "tensor types), without loading the model; or, for a remote server, from its /v1/models.",
    responses={200: ModelsResponseSerializer, 503: OpenApiResponse(response=ERROR, description="model file missing or unreadable")},
)
@api_view(["GET"])
@llm_api
def models_api(request):
    svc = web.service()
    models = [m.to_dict() for m in svc.models()]
    return Response({"count": len(models), "next": None, "previous": None, "results": models,
                     "status": svc.status()})


api_urlpatterns = [
    path("next-token/", next_token_api, name="llm-next-token"),
    path("generate/", generate_api, name="llm-generate"),
    path("tokenize/", tokenize_api, name="llm-tokenize"),
    path("perplexity/", perplexity_api, name="llm-perplexity"),
    path("grammar/", grammar_api, name="llm-grammar"),
    path("models/", models_api, name="llm-models"),
]
