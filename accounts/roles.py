"""The four roles of issue #5, derived from Django's own user flags and groups.

reader  anyone, signed in or not: reads public notes and the glossary
member  any active signed-in user: writes notes, reads team notes
editor  a member in the "Editors" group (glossary migration 0002), which grants
        glossary.change_entry: edits glossary entries
staff   user.is_staff: moderates notes (edit, delete, restore from the trash), invites members
"""

EDITORS_GROUP = "Editors"
ROLES = ("reader", "member", "editor", "staff")
# Roles staff may hand out from the members page. Making someone staff is a superuser's
# decision and stays in the Django admin.
ASSIGNABLE_ROLES = ("member", "editor")


def role_of(user) -> str:
    if user is None or not user.is_authenticated or not user.is_active:
        return "reader"
    if user.is_staff:
        return "staff"
    if user.has_perm("glossary.change_entry"):
        return "editor"
    return "member"


def is_member(user) -> bool:
    return role_of(user) != "reader"


def set_role(user, role: str) -> None:
    """Make `user` a plain member or an editor (group membership only)."""
    from django.contrib.auth.models import Group

    if role not in ASSIGNABLE_ROLES:
        raise ValueError(f"role: must be one of {', '.join(ASSIGNABLE_ROLES)}")
    editors = Group.objects.get(name=EDITORS_GROUP)
    if role == "editor":
        user.groups.add(editors)
    else:
        user.groups.remove(editors)
    # has_perm caches permissions on the instance.
    for cache in ("_perm_cache", "_group_perm_cache", "_user_perm_cache"):
        user.__dict__.pop(cache, None)
