import geo_ops.reports.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0004_tracking_number_constraint_and_format'),
    ]

    operations = [
        migrations.AlterField(
            model_name='report',
            name='external_id',
            field=models.CharField(blank=True, db_collation='C', max_length=100, null=True),
        ),
        migrations.AlterField(
            model_name='report',
            name='tracking_number',
            field=models.CharField(db_collation='C', db_default=geo_ops.reports.models.TrackingNumber(), max_length=20),
        ),
    ]
