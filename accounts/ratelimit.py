"""Failed sign-ins counted per client address and username, in the cache.

A fixed window: the first failure starts a LOGIN_FAILURE_WINDOW-second window; after
LOGIN_FAILURE_LIMIT failures in it, further attempts for that pair are refused (HTTP 429)
without checking the password, until the window ends. Counting per address *and* username
means one person's typos do not lock everyone behind the same NAT out of every account.
The API token endpoint has its own DRF throttle (settings REST_FRAMEWORK "login").
"""

import hashlib

from django.conf import settings
from django.core.cache import cache


def limit() -> int:
    return getattr(settings, "LOGIN_FAILURE_LIMIT", 10)


def window() -> int:
    return getattr(settings, "LOGIN_FAILURE_WINDOW", 60)


def client_address(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy rewrites
    # it, so trusting it would let an attacker pick a fresh "address" per attempt.
    return request.META.get("REMOTE_ADDR", "")


def _key(request, username: str) -> str:
    raw = f"{client_address(request)}\n{username.strip().casefold()}"
    return "login-failures:" + hashlib.sha256(raw.encode()).hexdigest()


def is_blocked(request, username: str) -> bool:
    return cache.get(_key(request, username), 0) >= limit()


def record_failure(request, username: str) -> int:
    key = _key(request, username)
    # add() starts the window only if none is running; incr() never extends it.
    cache.add(key, 0, timeout=window())
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add() and incr()
        cache.set(key, 1, timeout=window())
        return 1


def reset(request, username: str) -> None:
    cache.delete(_key(request, username))
