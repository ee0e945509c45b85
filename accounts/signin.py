"""Sign-in limits, counted by django-axes: the hooks it calls (settings AXES_*).

Failed sign-ins are counted per pair of normalised username and client address, in the
database (so every web worker sees the same count). After LOGIN_FAILURE_LIMIT failures
in a row, that pair is refused without checking the password until LOGIN_LOCKOUT_MINUTES
after the last counted failure. Only failures count; a successful sign-in clears the
pair's count. The owner signing in from another address is a different pair, so a
stranger's guessing cannot lock them out. The sign-in form, the admin's sign-in and
`POST /api/v1/auth/token/` all authenticate through Django's AuthenticationForm, so they
share these rules.
"""

import ipaddress
import unicodedata

from django.conf import settings
from django.shortcuts import render

# axes stores the username in a 255-character column; Django's own usernames stop at 150.
USERNAME_KEY_LENGTH = 255


def username_key(request, credentials) -> str:
    """The username as authentication compares it: Django's sign-in form applies NFKC
    (UsernameField), so `ｖｉｃｔｉｍ` signs in as `victim` and must count as `victim`.
    Case is folded too: that can only join two accounts' counts, never split one."""
    if credentials is not None:
        username = credentials.get("username")
    else:
        username = getattr(request, "data", request.POST).get("username")
    if not isinstance(username, str):
        return ""
    folded = unicodedata.normalize("NFKC", username).casefold().replace("\x00", "")
    return folded[:USERNAME_KEY_LENGTH]


def client_address(request) -> str:
    """REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies stand in front of the service.

    Each proxy appends the address it was connected from to X-Forwarded-For, so with n
    trusted proxies the n-th entry from the right is the client as the outermost proxy saw
    it; anything further left was written by the client and proves nothing. (Written here
    rather than with django-ipware: these few lines are the whole rule.)
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(hops) >= proxies:
            try:
                return str(ipaddress.ip_address(hops[-proxies]))
            except ValueError:
                pass  # a proxy that writes something else is misconfigured: fall back
    return remote


def lockout_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    return (f"Too many failed sign-in attempts for this account from your address. "
            f"Signing in is paused for {minutes} minute{'s' if minutes != 1 else ''}.")


def lockout_response(request, original_response=None, credentials=None):
    """The sign-in page's answer once a pair is locked (AXES_LOCKOUT_CALLABLE)."""
    response = render(request, "accounts/login_limited.html",
                      {"minutes": lockout_minutes()}, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
