from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.forms import AcceptInviteForm, InviteForm, RoleForm
from accounts.models import Invite, InviteUnusable
from accounts.permissions import staff_required
from accounts.roles import role_of, set_role
from notes.models import Note

User = get_user_model()


def profile(request, username):
    """A member's page: their role and the notes of theirs the viewer may read."""
    person = get_object_or_404(User, username=username)
    notes = (Note.objects.visible_to(request.user).filter(author=person)
             .select_related("entry", "author"))
    page = Paginator(notes, 20).get_page(request.GET.get("page"))
    return render(request, "accounts/profile.html", {
        "person": person, "role": role_of(person), "page": page,
        "is_self": request.user.pk == person.pk,
    })


@staff_required
def invites(request):
    """Make invite links and see which are still open. A new link is shown once, here."""
    new_link = None
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        invite, token = Invite.issue(created_by=request.user, **form.cleaned_data)
        new_link = request.build_absolute_uri(Invite.url_for(token))
        form = InviteForm()
    return render(request, "accounts/invites.html", {
        "form": form, "new_link": new_link,
        "open_invites": Invite.objects.usable().select_related("created_by"),
        "past_invites": Invite.objects.exclude(pk__in=Invite.objects.usable())
                        .select_related("created_by", "used_by")[:20],
    }, status=400 if form.errors else 200)


@staff_required
@require_POST
def invite_revoke(request, pk):
    invite = get_object_or_404(Invite.objects.usable(), pk=pk)
    invite.delete()
    messages.success(request, "Invite revoked: its link no longer works.")
    return redirect("accounts:invites")


def invite_accept(request, token):
    invite = Invite.find(token)
    if invite is None:
        return render(request, "accounts/invite_invalid.html", {"reason": "unknown"}, status=404)
    if not invite.is_usable:
        reason = "used" if invite.is_used else "expired"
        return render(request, "accounts/invite_invalid.html", {"reason": reason}, status=410)
    if request.user.is_authenticated:
        return render(request, "accounts/invite_invalid.html", {"reason": "signed-in"}, status=409)
    form = AcceptInviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invite.accept(form.cleaned_data["username"], form.cleaned_data["password1"])
        except InviteUnusable:
            return render(request, "accounts/invite_invalid.html", {"reason": "used"}, status=410)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}! Your account is ready.")
        return redirect("accounts:profile", username=user.username)
    return render(request, "accounts/invite_accept.html", {"form": form, "invite": invite},
                  status=400 if form.errors else 200)


@staff_required
def members(request):
    """Everyone with an account, their role, and a way to make a member an editor or back."""
    people = User.objects.order_by("username").prefetch_related("groups")
    rows = [{"person": person, "role": role_of(person)} for person in people]
    return render(request, "accounts/members.html", {"rows": rows, "role_form": RoleForm()})


@staff_required
@require_POST
def member_role(request, pk):
    person = get_object_or_404(User, pk=pk)
    form = RoleForm(request.POST)
    if person.is_staff or person.is_superuser:
        messages.error(request, f"{person.username} is staff; change staff accounts in the admin.")
    elif form.is_valid():
        set_role(person, form.cleaned_data["role"])
        messages.success(request, f"{person.username} is now {form.cleaned_data['role']}.")
    else:
        messages.error(request, "Choose member or editor.")
    return redirect("accounts:members")
