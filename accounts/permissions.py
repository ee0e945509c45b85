"""Access decorators for pages: signed-in members, staff. A 403 says why, in words."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

from accounts.roles import is_member


def forbidden(request, message: str):
    return render(request, "accounts/forbidden.html", {"message": message}, status=403)


def member_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_member(request.user):
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def staff_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            return forbidden(request, "Only staff can open this page.")
        return view(request, *args, **kwargs)

    return wrapper
