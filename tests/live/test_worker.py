"""The model worker through the real service and the real bundled model (issue 15, items 1-3).

What each item did to the server — abort it, eat its memory, hold the model for half an
hour — must now cost at most the request that did it, and the service must answer the
next request normally. The crash and memory tests switch the static grammar checks
(live.grammar) off on purpose, so that the grammar really reaches llama.cpp in the worker
and the last line of defence is what is tested; other tests show that the checks refuse
the same inputs first. The worker's own figures (its pid, restarts, why the last one
ended) come from its supervisor.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from django.conf import settings as django_settings
from django.test import override_settings

import live.grammar
from live import web
from live.llm import bundled_model_path
from live.service import reset_service
from live.worker import DEFAULT_HEADROOM_MB
from tests.live.http import post, read_sse, wait_until, wait_until_idle

ROOT = Path(__file__).resolve().parents[2]
N_CTX = 512
PROMPT = "The capital of France is"

# Issue 15, item 1: each aborted the server (SIGABRT, exit 134) from inside llama.cpp.
ABORTING = [
    ("grammar", "root ::= [z-a]", False),
    ("grammar", 'root ::= "\\x00"', False),
    ("grammar", "root ::= <[999999999]>", False),
    ("grammar", "root ::= <[1]>", False),
    ("json_schema", {"const": "\u0000"}, False),
    ("json_schema", {"type": "string", "pattern": "^[z-a]$"}, True),
]
# Item 2: the grammar check allocated without bound. Item 3: 2,000 alternatives, ~2 s a token.
EXPANDING = ("grammar", 'root ::= "a"{2,1}')
COSTLY = ("grammar", "root ::= " + "|".join(f'"w{i}"' for i in range(2000)))


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    reset_service()
    worker_dir = str(tmp_path_factory.mktemp("worker"))
    with override_settings(LLM={**django_settings.LLM, "model_path": "", "n_ctx": N_CTX, "n_threads": 1,
                                "worker_dir": worker_dir}):
        service = web.service()
    yield service
    reset_service()


@pytest.fixture
def unchecked(monkeypatch):
    """The static grammar checks switched off: grammars go straight to llama.cpp."""
    monkeypatch.setattr(live.grammar, "check_grammar", lambda text, field_name="grammar": None)


def supervisor(service):
    return service.backend.supervisor_status()


def top_token(api_client):
    response = post(api_client, "next-token/", {"prompt": PROMPT, "top_n": 3})
    assert response.status_code == 200, response.content
    return [t["text"] for t in response.json()["tokens"]]


def vm_status(pid):
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmPeak", "VmRSS")}


# --- item 1: a grammar that aborts llama.cpp ----------------------------------------------------

@pytest.mark.parametrize("field, value, stream", ABORTING, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(ABORTING)])
def test_a_grammar_that_aborts_llama_cpp_costs_only_its_own_request(api_client, svc, unchecked, field, value, stream):
    expected = top_token(api_client)  # the worker is up
    before = supervisor(svc)
    response = post(api_client, "generate/", {"prompt": "Hi", "max_tokens": 4, field: value, "stream": stream})
    if response.status_code == 200:
        # Streamed: the abort came after the stream had started (after a first token, as in
        # the issue); the error event names the field.
        assert stream
        name, data = read_sse(response)[-1]
        assert name == "error" and field in data, data
        message = data[field][0]
    else:
        assert response.status_code == 400, response.content
        assert list(response.json()) == [field]
        message = response.json()[field][0]
    assert "llama.cpp failed fatally while applying this grammar" in message
    # The grammar did reach llama.cpp: the worker aborted and a new one took its place.
    wait_until(lambda: supervisor(svc)["restarts"] == before["restarts"] + 1, 30, "the restart")
    after = supervisor(svc)
    assert after["last_exit"] == "killed by SIGABRT (a native abort)"
    assert after["worker_pid"] != before["worker_pid"]
    assert top_token(api_client) == expected  # and the service answers as before


# --- items 1 to 3 never reach llama.cpp: the static checks refuse them --------------------------

CHECKED = [(f, v) for f, v, _ in ABORTING] + [EXPANDING, COSTLY]


@pytest.mark.parametrize("field, value", CHECKED, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CHECKED)])
def test_the_static_checks_refuse_items_1_to_3_before_llama_cpp(api_client, svc, field, value):
    top_token(api_client)
    before = supervisor(svc)
    verdict = post(api_client, "grammar/", {field: value})
    assert verdict.status_code == 400 and list(verdict.json()) == [field], verdict.content
    for stream in (False, True):
        response = post(api_client, "generate/", {"prompt": "Hi", "max_tokens": 4, field: value, "stream": stream})
        assert response.status_code == 400 and list(response.json()) == [field], response.content
    after = supervisor(svc)
    assert (after["worker_pid"], after["restarts"]) == (before["worker_pid"], before["restarts"])


# --- item 2: memory ------------------------------------------------------------------------------

def test_the_worker_s_address_space_is_capped_by_default(api_client, svc):
    top_token(api_client)
    pid = supervisor(svc)["worker_pid"]
    limits = Path(f"/proc/{pid}/limits").read_text()
    line = next(line for line in limits.splitlines() if line.startswith("Max address space"))
    cap = (os.path.getsize(bundled_model_path()) // 2**20 + DEFAULT_HEADROOM_MB) * 2**20
    assert line.split()[3:5] == [str(cap), str(cap)]


def test_a_grammar_that_allocates_without_bound_stops_at_the_memory_cap(api_client, service_with, unchecked):
    cap_mb = 2600  # the worker uses about 1.9 GB of address space at n_ctx 512
    service = service_with(n_ctx=N_CTX, memory_mb=cap_mb)
    expected = top_token(api_client)
    for path, body in [("grammar/", {"grammar": EXPANDING[1]}),
                       ("generate/", {"prompt": "Hi", "max_tokens": 4, "grammar": EXPANDING[1]})]:
        before = supervisor(service)
        started = time.monotonic()
        response = post(api_client, path, body)
        assert response.status_code == 400, response.content
        assert list(response.json()) == ["grammar"]
        assert time.monotonic() - started < 60
        message = response.json()["grammar"][0]
        if "bad_alloc" in message:
            # llama.cpp's parser caught the failed allocation and said so; the worker lives on.
            assert supervisor(service)["worker_pid"] == before["worker_pid"]
            assert vm_status(before["worker_pid"])["VmPeak"] <= cap_mb * 2**20
        else:
            # The allocation failed elsewhere: an abort (not the kernel's OOM killer), a restart.
            assert "llama.cpp failed fatally" in message
            wait_until(lambda: supervisor(service)["restarts"] == before["restarts"] + 1, 30, "the restart")
            assert supervisor(service)["last_exit"] == "killed by SIGABRT (a native abort)"
        assert top_token(api_client) == expected


# --- item 3: time -------------------------------------------------------------------------------

def test_generation_stops_at_the_request_time_budget(api_client, service_with):
    service_with(n_ctx=1100, request_timeout=3)  # room for 1,024 tokens: some 13 s at best here
    top_token(api_client)
    for stream in (False, True):
        started = time.monotonic()
        response = post(api_client, "generate/", {"prompt": "Once upon a time", "max_tokens": 1024,
                                                  "temperature": 0, "stream": stream})
        took = time.monotonic() - started
        assert response.status_code == 200
        done = read_sse(response)[-1][1] if stream else response.json()
        assert done["finish_reason"] == "time_limit"
        assert 0 < done["usage"]["completion_tokens"] < 1024
        assert 2.5 <= done["took_ms"] / 1000 < 8 and took < 10  # the budget counts from the turn


def test_scoring_past_the_budget_is_a_503_with_retry_after(api_client, service_with):
    service = service_with(n_ctx=N_CTX, request_timeout=0.1)  # the hard limit is 10 s further
    top_token(api_client)
    worker = supervisor(service)["worker_pid"]
    response = post(api_client, "perplexity/", {"text": "The quick brown fox jumps over the lazy dog. " * 40})
    assert response.status_code == 503 and int(response["Retry-After"]) >= 1
    assert "time limit" in response.json()["detail"]
    assert supervisor(service)["worker_pid"] == worker  # stopped between decodes, no restart


def test_a_step_that_cannot_stop_is_ended_by_the_watchdog(api_client, service_with, unchecked):
    # llama.cpp's parse of "a"{2,1} cannot be interrupted. At the ~0.2 GB/s it allocates here
    # the cap (8 GB) is half a minute away, so it runs on until the worker's watchdog ends it
    # at request_timeout + 10 s, with some 2 GB in use.
    service = service_with(n_ctx=N_CTX, request_timeout=0.5, memory_mb=8000)
    expected = top_token(api_client)
    before = supervisor(service)
    started = time.monotonic()
    response = post(api_client, "grammar/", {"grammar": EXPANDING[1]})
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) >= 1
    assert "took longer than its limit of 0.5 s" in response.json()["detail"]
    assert time.monotonic() - started < 20
    wait_until(lambda: supervisor(service)["restarts"] == before["restarts"] + 1, 30, "the restart")
    assert "watchdog" in supervisor(service)["last_exit"]
    assert top_token(api_client) == expected


def test_a_worker_that_stops_answering_is_ended_by_the_web_process(api_client, service_with):
    # A frozen worker (SIGSTOP: its watchdog cannot run either): the web process waits until
    # the request's hard limit has passed, has the supervisor kill it, and says 503.
    service = service_with(n_ctx=N_CTX, request_timeout=0.5)
    expected = top_token(api_client)
    before = supervisor(service)
    frozen = threading.Timer(0.3, os.kill, (before["worker_pid"], signal.SIGSTOP))
    frozen.start()
    started = time.monotonic()
    response = post(api_client, "generate/", {"prompt": "Once upon a time", "max_tokens": 400, "temperature": 0})
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) >= 1
    assert time.monotonic() - started < 30
    wait_until(lambda: supervisor(service)["restarts"] == before["restarts"] + 1, 30, "the restart")
    assert supervisor(service)["last_exit"] == "killed by SIGKILL"
    assert top_token(api_client) == expected


def test_the_static_checks_keep_2000_alternatives_from_costing_seconds_a_token(api_client, svc):
    response = post(api_client, "generate/", {"prompt": "Pick a word:", "max_tokens": 1024, "grammar": COSTLY[1]})
    assert response.status_code == 400
    assert "2000 places at once" in response.json()["grammar"][0]


# --- a client that goes away ----------------------------------------------------------------------

def raw_request(live_server, body):
    """Send a POST to the live server over a plain socket and return the socket."""
    url = urlparse(live_server.url)
    sock = socket.create_connection((url.hostname, url.port))
    data = json.dumps(body).encode()
    sock.sendall(b"POST /api/v1/llm/generate/ HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (url.netloc.encode(), len(data), data))
    return sock


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_client_that_disconnects_cancels_its_generation(live_server, service_with, stream):
    # 1,024 greedy tokens take 13 s even at this model's best speed here (~80 tokens/s); the
    # model must be free well before that once the client has left (within a few tokens:
    # a token can take a second on this host when other work shares its two cores).
    service = service_with(n_ctx=1100)
    sock = raw_request(live_server, {"prompt": "Once upon a time", "max_tokens": 1024, "temperature": 0,
                                     "stream": stream})
    wait_until(lambda: service.status()["busy"], 60, "the generation to start")
    if stream:
        received = b""
        while b"event: token" not in received:
            received += sock.recv(4096)
    else:
        time.sleep(1)  # a few tokens in
        assert service.status()["busy"]
    sock.close()
    closed = time.monotonic()
    wait_until_idle(service, within=30)
    assert time.monotonic() - closed < 10


# --- restarts ---------------------------------------------------------------------------------------

def test_a_killed_worker_is_back_within_seconds(api_client, svc):
    expected = top_token(api_client)
    before = supervisor(svc)
    os.kill(before["worker_pid"], signal.SIGKILL)
    killed = time.monotonic()
    assert top_token(api_client) == expected  # waits in the socket's backlog for the new worker
    back = time.monotonic() - killed
    status = supervisor(svc)
    assert status["restarts"] == before["restarts"] + 1 and status["last_exit"] == "killed by SIGKILL"
    print(f"\nworker restart: answered again {back:.2f} s after SIGKILL; new worker ready after "
          f"{status['last_restart_s']:.2f} s")
    assert back < 20


# --- one worker per host, whatever the number of web processes ------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def maps_file(pid, path):
    return any(line.endswith(" " + path) for line in Path(f"/proc/{pid}/maps").read_text().splitlines())


@pytest.mark.slow
def test_gunicorn_with_three_workers_loads_the_model_once(tmp_path):
    worker_dir = tmp_path / "worker"
    port = free_port()
    env = {**os.environ, "LLM_WORKER_DIR": str(worker_dir), "LLM_N_CTX": str(N_CTX), "LLM_N_THREADS": "1",
           "LLM_QUEUE_SIZE": "12", "DJANGO_SETTINGS_MODULE": "config.settings"}
    log = open(tmp_path / "gunicorn.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                               "--workers", "3", "--timeout", "120"], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/api/v1/llm/"
    try:
        wait_until(lambda: _answers(url + "models/"), 90, "gunicorn")
        answers = []

        def ask():
            response = httpx.post(url + "generate/", json={"prompt": PROMPT, "max_tokens": 8, "temperature": 0},
                                  timeout=120)
            answers.append((response.status_code, response.json().get("text")))

        threads = [threading.Thread(target=ask) for _ in range(9)]  # three at a time per gunicorn worker
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        assert len(answers) == 9 and {status for status, _ in answers} == {200}, answers
        assert len({text for _, text in answers}) == 1  # greedy: the same text for all

        (control,) = worker_dir.glob("*.ctl")  # one supervisor for the three processes
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(control))
            sock.sendall(b'{"op": "status"}\n')
            status = json.loads(sock.makefile().readline())
        assert status["attached"] == 3  # every gunicorn worker uses it
        assert status["restarts"] == 0
        # The model file is mapped by the model worker alone, not by gunicorn's processes.
        import psutil

        model = os.path.realpath(bundled_model_path())
        web_processes = [server.pid, *(child.pid for child in psutil.Process(server.pid).children())]
        assert len(web_processes) == 4  # the master and its three workers
        assert maps_file(status["worker_pid"], model)
        assert not any(maps_file(pid, model) for pid in web_processes)
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    # The supervisor stops its worker and leaves when told to (it would after 30 s alone).
    os.kill(status["pid"], signal.SIGTERM)
    wait_until(lambda: not psutil.pid_exists(status["worker_pid"]) and not control.exists(), 15,
               "the supervisor and its worker to stop")


def _answers(url):
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
