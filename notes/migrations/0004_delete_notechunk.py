from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('notes', '0003_moderation'),
        # Passages move to search.Passage first (search/migrations/0002_passages_from_chunks.py).
        ('search', '0002_passages_from_chunks'),
    ]

    operations = [
        migrations.DeleteModel(
            name='NoteChunk',
        ),
    ]
