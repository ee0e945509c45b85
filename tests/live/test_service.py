"""LLMService: one request at a time on the real bundled model, a bounded
queue, timeouts, and streams that give the model back when they stop."""

import gc
import threading
import time

import pytest

from live.engine import LocalBackend
from live.llm import InputError
from live.client import WorkerBackend
from live.remote import RemoteBackend
from live.service import (
    LLMService,
    QueueFull,
    QueueTimeout,
    ServiceConfig,
    TokenStream,
    build_backend,
    get_service,
    reset_service,
)

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def backend():
    b = LocalBackend(n_ctx=512)
    yield b
    b.close()


def make_service(backend, queue_size=1, queue_timeout=5.0):
    return LLMService(backend, queue_size=queue_size, queue_timeout=queue_timeout)


def hold_model(service):
    """A stream that has produced one token and so holds the model until closed."""
    stream = service.stream_generate(PROMPT, max_tokens=200, temperature=0)
    assert next(stream)["type"] == "token"
    return stream


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_request_beyond_the_queue_size_gets_queue_full(backend):
    service = make_service(backend, queue_size=1)
    stream = hold_model(service)
    results = []
    waiter = threading.Thread(target=lambda: results.append(service.next_token(PROMPT, top_n=3)))
    waiter.start()
    wait_until(lambda: service.status()["waiting"] == 1)

    with pytest.raises(QueueFull) as excinfo:
        service.next_token(PROMPT, top_n=3)
    assert excinfo.value.retry_after >= 1
    assert excinfo.value.waiting == 1

    stream.close()
    waiter.join(timeout=30)
    assert results and results[0].tokens[0].text == " the"  # the waiting request was served
    assert service.status() == {"backend": "local", "busy": False, "waiting": 0, "queue_size": 1, "loaded": True}


def test_with_queue_size_zero_a_second_request_is_refused_at_once(backend):
    service = make_service(backend, queue_size=0)
    with hold_model(service):
        started = time.monotonic()
        with pytest.raises(QueueFull):
            service.generate(PROMPT, max_tokens=1)
        assert time.monotonic() - started < 1.0


def test_a_request_that_waits_too_long_gets_queue_timeout(backend):
    service = make_service(backend, queue_size=2, queue_timeout=0.3)
    with hold_model(service):
        started = time.monotonic()
        with pytest.raises(QueueTimeout):
            service.tokenize("hello")
        assert 0.25 < time.monotonic() - started < 5
        assert service.status()["waiting"] == 0  # the timed-out request left the queue


def test_streaming_also_raises_queue_full_before_the_first_event(backend):
    service = make_service(backend, queue_size=0)
    with hold_model(service):
        with pytest.raises(QueueFull):
            service.stream_generate(PROMPT, max_tokens=5)


def test_closing_a_stream_stops_generation_and_releases_the_model(backend):
    service = make_service(backend)
    stream = service.stream_generate(PROMPT, max_tokens=200, temperature=0)
    events = [next(stream), next(stream)]
    assert [e["type"] for e in events] == ["token", "token"]
    stream.close()
    assert stream.closed
    assert not service.status()["busy"]
    # Llama.generate evaluates a sampled token only when asked for the next one:
    # after two tokens, the context holds the prompt and at most those two.
    prompt_tokens = backend.tokenize(PROMPT).count
    assert backend.llama.n_tokens <= prompt_tokens + 2
    # ...and the model answers the next request normally.
    assert service.next_token(PROMPT, top_n=1).tokens[0].text == " the"


def test_a_stream_dropped_before_its_first_event_releases_the_model(backend):
    service = make_service(backend)
    stream = service.stream_generate(PROMPT, max_tokens=5)
    assert service.status()["busy"]
    del stream
    gc.collect()
    assert not service.status()["busy"]


def test_a_stream_read_to_the_end_releases_the_model(backend):
    service = make_service(backend)
    events = list(service.stream_generate(PROMPT, max_tokens=3, temperature=0))
    assert [e["type"] for e in events] == ["token"] * 3 + ["done"]
    assert not service.status()["busy"]


def test_should_stop_cancels_the_stream_between_tokens(backend):
    service = make_service(backend)
    disconnected = threading.Event()
    stream = service.stream_generate(PROMPT, should_stop=disconnected.is_set, max_tokens=200, temperature=0)
    first = next(stream)
    disconnected.set()
    rest = list(stream)
    assert first["type"] == "token"
    assert [e["type"] for e in rest] == ["done"]
    assert rest[-1]["finish_reason"] == "cancelled"
    assert rest[-1]["usage"]["completion_tokens"] == 1
    assert not service.status()["busy"]


def test_a_stream_closed_from_another_thread_releases_the_model(backend):
    # Servers may iterate a response in one thread and close it in another.
    service = make_service(backend)
    stream = hold_model(service)
    closer = threading.Thread(target=stream.close)
    closer.start()
    closer.join()
    assert not service.status()["busy"]
    assert service.next_token(PROMPT, top_n=1).tokens


def test_concurrent_requests_take_turns_and_get_the_same_answers_as_alone(backend):
    service = make_service(backend, queue_size=4, queue_timeout=60)
    prompts = ["The capital of France is", "Water boils at", "Once upon a time", "def add(a, b):"]
    alone = {p: [t.id for t in service.next_token(p, top_n=5).tokens] for p in prompts}
    together = {}

    def ask(p):
        together[p] = [t.id for t in service.next_token(p, top_n=5).tokens]

    threads = [threading.Thread(target=ask, args=(p,)) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert together == alone


def test_invalid_input_is_refused_without_waiting_for_the_model(backend):
    service = make_service(backend, queue_size=0, queue_timeout=30)
    with hold_model(service):
        started = time.monotonic()
        for call in (
            lambda: service.generate("", max_tokens=5),
            lambda: service.generate(PROMPT, temperature=9),
            lambda: service.next_token(PROMPT, top_n=0),
            lambda: service.stream_generate(PROMPT, max_tokens=0),
        ):
            with pytest.raises(InputError):
                call()
        assert time.monotonic() - started < 1.0


def test_invalid_grammar_is_an_input_error_and_the_model_is_released(backend):
    service = make_service(backend)
    with pytest.raises(InputError) as excinfo:
        service.generate(PROMPT, max_tokens=5, grammar="root ::= ((")
    assert excinfo.value.field == "grammar"
    assert excinfo.value.to_dict() == {"grammar": [excinfo.value.message]}
    with pytest.raises(InputError):
        service.stream_generate(PROMPT, max_tokens=5, grammar="root ::= ((")
    assert not service.status()["busy"]
    assert service.generate(PROMPT, max_tokens=2, temperature=0).usage["completion_tokens"] == 2


def test_json_schema_to_grammar_returns_a_grammar_llama_cpp_accepts(backend):
    service = make_service(backend)
    grammar = service.json_schema_to_grammar({"type": "object", "properties": {"ok": {"type": "boolean"}}})
    assert "root ::=" in grammar
    service.validate_grammar(grammar)


# -- configuration --------------------------------------------------------------


def test_config_reads_the_llm_environment_variables():
    config = ServiceConfig.from_env(
        {
            "LLM_BACKEND": "remote",
            "LLM_REMOTE_URL": "http://127.0.0.1:9",
            "LLM_N_CTX": "1024",
            "LLM_N_THREADS": "2",
            "LLM_N_GPU_LAYERS": "-1",
            "LLM_QUEUE_SIZE": "8",
            "LLM_QUEUE_TIMEOUT": "2.5",
            "LLM_REUSE_PREFIX": "true",
            "LLM_REQUEST_TIMEOUT": "12.5",
            "LLM_WORKER_MEMORY_MB": "2048",
            "LLM_WORKER_DIR": "/tmp/somewhere",
            "UNRELATED": "x",
        }
    )
    assert config == ServiceConfig(
        backend="remote", remote_url="http://127.0.0.1:9", n_ctx=1024, n_threads=2,
        n_gpu_layers=-1, queue_size=8, queue_timeout=2.5, reuse_prefix=True, request_timeout=12.5,
        memory_mb=2048, worker_dir="/tmp/somewhere",
    )
    assert isinstance(build_backend(config), RemoteBackend)


def test_config_from_a_settings_dict_builds_the_worker_client_lazily(tmp_path):
    config = ServiceConfig.from_mapping({"backend": "local", "n_ctx": 256, "LLM_N_THREADS": 1,
                                         "worker_dir": str(tmp_path), "memory_mb": ""})
    assert config.memory_mb is None  # empty: the default, a cap sized from the model file
    backend = build_backend(config)
    assert isinstance(backend, WorkerBackend)
    assert (backend.n_ctx, backend.config.n_threads) == (256, 1)
    assert backend.supervisor_status() is None  # nothing starts before the first request
    assert backend.status()["loaded"] is False
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "values, name",
    [
        ({"LLM_BACKEND": "gpu"}, "LLM_BACKEND"),
        ({"LLM_BACKEND": "remote"}, "LLM_REMOTE_URL"),
        ({"LLM_N_CTX": "lots"}, "LLM_N_CTX"),
        ({"LLM_QUEUE_SIZE": "-1"}, "LLM_QUEUE_SIZE"),
        ({"LLM_QUEUE_TIMEOUT": "0"}, "LLM_QUEUE_TIMEOUT"),
        ({"LLM_REUSE_PREFIX": "maybe"}, "LLM_REUSE_PREFIX"),
        ({"LLM_REQUEST_TIMEOUT": "0"}, "LLM_REQUEST_TIMEOUT"),
        ({"LLM_REQUEST_TIMEOUT": "soon"}, "LLM_REQUEST_TIMEOUT"),
        ({"LLM_WORKER_MEMORY_MB": "-5"}, "LLM_WORKER_MEMORY_MB"),
        ({"n_ctxx": 5}, "n_ctxx"),
    ],
)
def test_bad_configuration_names_the_setting(values, name):
    with pytest.raises(ValueError) as excinfo:
        ServiceConfig.from_mapping(values)
    assert str(excinfo.value).startswith(name)


def test_get_service_builds_one_service_per_process(tmp_path):
    reset_service()
    try:
        first = get_service({"n_ctx": 256, "queue_size": 2, "worker_dir": str(tmp_path)})
        assert get_service() is first
        assert get_service({"n_ctx": 999}) is first
        assert first.queue_size == 2
        assert first.backend.supervisor_status() is None  # nothing starts before the first request
    finally:
        reset_service()


def test_token_stream_is_an_iterator_that_django_can_close():
    released = []
    stream = TokenStream(iter([{"type": "done"}]), lambda: released.append(True))
    assert iter(stream) is stream
    assert list(stream) == [{"type": "done"}]
    stream.close()
    assert released == [True]  # released once, however often it is closed
