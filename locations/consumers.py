"""Socket handlers for beacon and location (registered in gateway.ws_handlers): parse, then the same services as
REST. The location path stays on the event loop and never touches the database."""

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from locations import services
from locations.inputs import position_parse
from nebengjek.errors import CommonError, DomainError
from nebengjek.inputs import is_json_boolean


async def beacon(consumer, message):
    active = message.get("active")
    if not is_json_boolean(active):
        raise DomainError(
            CommonError.INVALID_INPUT, "active: Must be true or false.", details={"active": ["Must be true or false."]}
        )
    return {"active": await database_sync_to_async(_beacon_set)(consumer.user_id, active)}


def _beacon_set(user_id, active):
    return services.beacon_set(user=get_user_model().objects.get(pk=user_id), active=active)


async def location(consumer, message):
    position = position_parse(message)
    outcome = await services.location_record_async(
        user_id=consumer.user_id,
        lat=position.lat,
        lng=position.lng,
        recorded_at=position.recorded_at,
        accuracy_m=position.accuracy_m,
    )
    return services.location_ack(outcome)
