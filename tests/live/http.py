"""Helpers the live API tests share: JSON posts, Server-Sent Events, waiting for the model."""

import json
import time


def post(client, path, body):
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(f"/api/v1/llm/{path}", text, content_type="application/json")


def read_sse(response):
    """[(event, data)] from a text/event-stream body; comment lines are skipped."""
    events = []
    for block in b"".join(response.streaming_content).decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        name = next(line[6:].strip() for line in lines if line.startswith("event:"))
        data = json.loads("".join(line[5:].strip() for line in lines if line.startswith("data:")))
        events.append((name, data))
    return events


def wait_until(condition, within=10.0, what="the condition"):
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"waited {within:g} s for {what}"
        time.sleep(0.02)


def wait_until_idle(service, within=10.0):
    wait_until(lambda: not service.status()["busy"], within, "the model to be free")
