import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Role(models.TextChoices):
    PASSENGER = "passenger"
    DRIVER = "driver"


class VehicleType(models.TextChoices):
    MOTORCYCLE = "motorcycle"
    CAR = "car"


class UserManager(BaseUserManager["User"]):
    def create_user(self, msisdn, password=None, **extra):
        user = self.model(msisdn=msisdn, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, msisdn, password=None, **extra):
        from accounts.msisdn import msisdn_clean

        # ValidationError on a number sign-in would refuse (createsuperuser shows it as a CommandError).
        return self.create_user(msisdn_clean(msisdn), password, is_staff=True, is_superuser=True, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A NebengJek user, keyed by E.164 MSISDN; passengers sign in by OTP, staff also by password."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    msisdn = models.CharField(max_length=16, unique=True)
    full_name = models.CharField(max_length=120, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PASSENGER, db_index=True)
    is_active = models.BooleanField(default=True, help_text="Off = suspended: tokens refused, sockets closed.")
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # The user's rating, kept by rides/ratings.py in the rating's transaction: the average of the last
    # RATING_WINDOW_SIZE ratings received (None until the first) and how many were ever received.
    rating_average = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True, editable=False)
    rating_count = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "msisdn"
    REQUIRED_FIELDS = []

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="user_role_valid"),
        ]

    def __str__(self):
        return f"{self.full_name or 'user'} ({self.msisdn})"

    @property
    def is_driver(self):
        return self.role == Role.DRIVER


class DriverProfile(models.Model):
    user = models.OneToOneField(User, primary_key=True, on_delete=models.CASCADE, related_name="driver_profile")
    vehicle_type = models.CharField(max_length=16, choices=VehicleType.choices)
    vehicle_plate = models.CharField(max_length=16, unique=True)
    is_verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.vehicle_plate} ({self.vehicle_type})"


class OtpChallenge(models.Model):
    """One OTP sent to one number. The code is stored hashed; it is single use and locks after wrong tries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    msisdn = models.CharField(max_length=16, db_index=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    wrong_attempts = models.PositiveSmallIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)
    superseded = models.BooleanField(default=False)
    requested_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = "OTP challenge"
        indexes = [models.Index(fields=["msisdn", "-created_at"], name="otp_msisdn_recent")]

    def __str__(self):
        return f"OTP for {self.msisdn} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class SignInSession(models.Model):
    """One sign-in (an OTP verify): its refresh tokens rotate but keep the session id `sid`, which is the key here.
    Revoked by logout, suspension or an operator; the socket handshake and the refresh endpoint read it."""

    sid = models.UUIDField(primary_key=True, editable=False)  # tokens carry it as 32 hex digits
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_sessions")
    created_at = models.DateTimeField(default=timezone.now)
    # The last refresh (its new refresh token lives REFRESH_TOKEN_LIFETIME from then); null: never refreshed.
    refreshed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "sign-in session"

    def __str__(self):
        return f"session {self.sid} ({'revoked' if self.revoked_at else 'live'})"
