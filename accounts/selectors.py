from accounts.models import User


def user_get_for_output(user_id):
    return User.objects.select_related("driver_profile").get(pk=user_id)
