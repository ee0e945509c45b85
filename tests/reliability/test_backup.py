import pytest
from django.core.management import CommandError, call_command

from glossary.models import Entry


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_brings_back_what_was_deleted(make_entry, tmp_path):
    make_entry("kv-cache", "KV cache", body="Keys and values.")
    make_entry("gqa", "GQA", body="Shrinks the [[KV cache]].")
    dump = tmp_path / "backup.dump"
    call_command("backup", output=str(dump), verbosity=0)
    assert dump.stat().st_size > 0

    Entry.objects.get(slug="kv-cache").delete_with_links()
    assert not Entry.objects.filter(slug="kv-cache").exists()

    call_command("restore", str(dump), yes=True, verbosity=0)
    restored = Entry.objects.get(slug="kv-cache")
    assert restored.body == "Keys and values."
    assert list(restored.incoming.values_list("source__slug", flat=True)) == ["gqa"]
    assert restored.revisions.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_bad_backup_file_changes_nothing(make_entry, tmp_path):
    make_entry("gqa", "GQA")
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a dump")
    with pytest.raises(CommandError, match="pg_restore failed"):
        call_command("restore", str(junk), yes=True, verbosity=0)
    assert Entry.objects.filter(slug="gqa").exists()
