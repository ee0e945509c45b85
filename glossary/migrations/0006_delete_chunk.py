from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('glossary', '0005_reader_order_and_link_sentences'),
        # Passages move to search.Passage first (search/migrations/0002_passages_from_chunks.py).
        ('search', '0002_passages_from_chunks'),
    ]

    operations = [
        migrations.DeleteModel(
            name='Chunk',
        ),
    ]
