from django.contrib import admin, messages

from accounts.models import Invite


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["__str__", "role", "created_by", "created_at", "expires_at", "used_by"]
    list_filter = ["role"]
    readonly_fields = ["created_by", "created_at", "used_at", "used_by"]
    fields = ["note", "role", "expires_at", *readonly_fields]

    def save_model(self, request, obj, form, change):
        token = None
        if not change:
            # The token exists only now: the link is shown once, in the message.
            token = obj.set_new_token()
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if token:
            messages.success(request, "Invite link (shown only now): "
                             + request.build_absolute_uri(Invite.url_for(token)))
