"""How the OpenAPI schema reads our views (DRF's DEFAULT_SCHEMA_CLASS).

Its own module: DRF loads it from its settings while drf-spectacular's views are still being
imported, so it may import nothing that imports them.
"""

from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from drf_spectacular import openapi
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, also knowing which reads are public. It recognises only DRF's own
    permission classes; ours (reads public, writes by role) are asked instead: a read whose
    permissions all let an anonymous caller through is documented as needing no
    authentication (`{}` among its security requirements)."""

    def get_auth(self):
        auths = super().get_auth()
        if {} not in auths and self.method in SAFE_METHODS and self._anonymous_may_call():
            auths.append({})
        return auths

    def get_description(self):
        # Said in words too: Swagger UI draws a padlock on every operation that accepts
        # credentials, public or not.
        description = super().get_description()
        if {} in self.get_auth():
            return "Public: no account needed." + (f"\n\n{description}" if description else "")
        return description

    def _anonymous_may_call(self) -> bool:
        request = Request(RequestFactory().generic(self.method, self.path))
        request.user = AnonymousUser()
        return all(permission.has_permission(request, self.view) for permission in self.view.get_permissions())
