"""Property-based fuzzing of every API operation with schemathesis (bounded examples).

Checks: no 5xx, and responses conform to the OpenAPI schema the API publishes. Runs
in-process against the WSGI application and the real test database, as an editor with a
token so that write operations are exercised too.
"""

import pytest
import schemathesis
from schemathesis import checks
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings

# The schema is built from code (drf-spectacular), so loading it needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Calling the WSGI app directly fires request_finished, whose handler would close the
    connection holding the test transaction (Django's own test client disconnects it too)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def editor_token(db, make_entry, django_user_model):
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    make_entry("kv-cache", "KV cache", body="Keys and values, see [[GQA]].", category="runtime")
    make_entry("gqa", "GQA", body="Shrinks the [[KV cache]].")
    editor = django_user_model.objects.create_user("fuzzer", password="fuzz-pass-123")
    editor.groups.add(Group.objects.get(name="Editors"))
    return Token.objects.create(user=editor).key


# What the issue asks for: no 5xx, and every response (status, content type, headers, body)
# as the schema documents it. Not checked: whether every schema-valid request succeeds or
# every schema-invalid one fails - a calculator refuses many schema-valid values (a context
# of 10^12 tokens) with a 400 that names the field, which is the behaviour we want.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@schema.exclude(path_regex="^/api/v1/llm/").parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case, editor_token):
    case.call_and_validate(headers={"Authorization": f"Token {editor_token}"}, checks=CHECKS)


# The live endpoints run the real model (generation of up to 1,024 tokens): fewer examples.
@schema.include(path_regex="^/api/v1/llm/").parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_live_endpoints_never_fail_and_match_the_schema(case, editor_token):
    case.call_and_validate(headers={"Authorization": f"Token {editor_token}"}, checks=CHECKS)
