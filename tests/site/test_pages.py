import pytest


@pytest.mark.django_db
def test_home_page_says_what_the_site_is_and_links_every_part(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for href in ['href="/glossary/"', 'href="/search/"', 'href="/calculators/memory/"',
                 'href="/calculators/bit-layout/"', 'href="/calculators/lora/"',
                 'href="/calculators/sampling/"', 'href="/live/"', 'href="/notes/"', 'href="/api/docs/"']:
        assert href in html
    assert 'name="q"' in html  # the header search box


@pytest.mark.django_db
def test_pages_load_htmx_from_the_package_and_no_inline_script(client):
    response = client.get("/")
    html = response.content.decode()
    assert "/static/django_htmx/htmx-2.min.js" in html or "htmx" in html
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


@pytest.mark.django_db
def test_static_files_are_served_by_whitenoise(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert b"prefers-color-scheme: dark" in b"".join(response.streaming_content)


@pytest.mark.django_db
def test_admin_is_there_for_staff(client, django_user_model):
    assert client.get("/admin/").status_code == 302
    django_user_model.objects.create_superuser("boss", password="s3cret-pass-word")
    client.post("/admin/login/", {"username": "boss", "password": "s3cret-pass-word"})
    assert client.get("/admin/glossary/entry/").status_code == 200


@pytest.mark.django_db
def test_unknown_pages_are_html_404s(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Not found" in response.content
