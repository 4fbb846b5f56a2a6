import geo_ops.reports.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_crowd_duplicates_proof_radius"),
    ]

    operations = [
        # The tracking number's format in one SQL function: the column default numbers one report
        # at a time with it, the bulk import a whole block of the sequence.
        migrations.RunSQL(
            sql="""
            CREATE OR REPLACE FUNCTION reports_format_tracking_number(value bigint)
            RETURNS varchar LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
            $$ SELECT 'EP' || lpad(value::text, 8, '0') $$;
            CREATE OR REPLACE FUNCTION reports_next_tracking_number() RETURNS varchar
            LANGUAGE sql VOLATILE AS
            $$ SELECT reports_format_tracking_number(nextval('reports_tracking_number_seq')) $$;
            """,
            reverse_sql="""
            CREATE OR REPLACE FUNCTION reports_next_tracking_number() RETURNS varchar
            LANGUAGE sql VOLATILE AS
            $$ SELECT 'EP' || lpad(nextval('reports_tracking_number_seq')::text, 8, '0') $$;
            DROP FUNCTION IF EXISTS reports_format_tracking_number(bigint);
            """,
        ),
        migrations.AlterField(
            model_name="report",
            name="tracking_number",
            field=models.CharField(
                db_default=geo_ops.reports.models.TrackingNumber(), max_length=20
            ),
        ),
        migrations.AddConstraint(
            model_name="report",
            constraint=models.UniqueConstraint(
                fields=("tracking_number",), name="reports_tracking_number_unique"
            ),
        ),
    ]
