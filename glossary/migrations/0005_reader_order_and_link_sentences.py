import django.db.models.functions.text
from django.contrib.postgres.operations import UnaccentExtension
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('glossary', '0004_entry_search_aliases'),
    ]

    operations = [
        # unaccent() gives the reader's alphabetical order (glossary.models.alphabetical).
        UnaccentExtension(),
        migrations.AlterModelOptions(
            name='entry',
            options={'ordering': [models.OrderBy(models.Func(django.db.models.functions.text.Lower(models.Func(models.F('term'), function='unaccent', output_field=models.CharField())), output_field=models.BooleanField(), template="(%(expressions)s ~ '^[a-z]')")), models.OrderBy(django.db.models.functions.text.Lower(models.Func(models.F('term'), function='unaccent', output_field=models.CharField()))), models.OrderBy(models.F('term'))], 'verbose_name_plural': 'entries'},
        ),
        migrations.AddField(
            model_name='link',
            name='context',
            field=models.JSONField(blank=True, default=list),
        ),
    ]
