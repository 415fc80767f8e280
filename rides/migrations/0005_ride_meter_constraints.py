"""The database holds the meter's and the fare's rules: one track point per (ride, time), a distance never
negative, a charge within the metered fare and a fee within the charge. The unique constraint's index replaces the
(ride, recorded_at) index; it is built before that one is dropped."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rides', '0004_ride_distance_cap'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='trackpoint',
            constraint=models.UniqueConstraint(fields=('ride', 'recorded_at'), name='trackpoint_one_per_ride_time'),
        ),
        migrations.RemoveIndex(
            model_name='trackpoint',
            name='trackpoint_ride_time',
        ),
        migrations.AddConstraint(
            model_name='ride',
            constraint=models.CheckConstraint(condition=models.Q(('distance_m__gte', 0)),
                                              name='ride_distance_not_negative'),
        ),
        migrations.AddConstraint(
            model_name='ride',
            constraint=models.CheckConstraint(condition=models.Q(('charged_amount__isnull', True),
                                                                 ('charged_amount__lte', models.F('metered_fare')),
                                                                 _connector='OR'),
                                              name='ride_charge_within_metered_fare'),
        ),
        migrations.AddConstraint(
            model_name='ride',
            constraint=models.CheckConstraint(condition=models.Q(('admin_fee__isnull', True),
                                                                 ('admin_fee__lte', models.F('charged_amount')),
                                                                 _connector='OR'),
                                              name='ride_admin_fee_within_charge'),
        ),
    ]
