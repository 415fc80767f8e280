import factory

from accounts.models import DriverProfile, Role, User, VehicleType

_MSISDN_SEQUENCE = factory.Sequence(lambda n: f"+62812{n:08d}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["msisdn"]

    msisdn = _MSISDN_SEQUENCE
    full_name = factory.Faker("name", locale="id_ID")
    role = Role.PASSENGER


class DriverProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DriverProfile

    user = factory.SubFactory(UserFactory, role=Role.DRIVER, msisdn=factory.Sequence(lambda n: f"+62813{n:08d}"))
    vehicle_type = VehicleType.MOTORCYCLE
    vehicle_plate = factory.Sequence(lambda n: f"B {1000 + n} NJK")
    is_verified = True


def make_driver(**kwargs):
    return DriverProfileFactory(**kwargs).user


def make_passenger(**kwargs):
    return UserFactory(**kwargs)
