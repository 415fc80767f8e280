"""Socket handlers for the ride's chat (`chat.send`, `chat.receipt`), registered in the gateway's handler table.
Thin: parse, call the same services as REST (rides/chat.py), answer with what the REST twin answers."""

import uuid

from channels.db import database_sync_to_async

from nebengjek.errors import CommonError, DomainError
from rides import chat


def _uuid_field(message: dict, name: str) -> str:
    try:
        return str(uuid.UUID(message[name]))  # a JSON string only
    except (KeyError, ValueError, TypeError, AttributeError):
        raise DomainError(
            CommonError.INVALID_INPUT, f"{name}: a UUID is required.", details={name: ["A valid UUID is required."]}
        ) from None


async def chat_send(consumer, message: dict) -> dict:
    ride_id = _uuid_field(message, "ride_id")
    client_id = message.get("client_id")
    sent = await database_sync_to_async(chat.chat_message_send)(
        ride_id=ride_id,
        user_id=consumer.user_id,
        text=message.get("text"),
        quick_reply=message.get("quick_reply"),
        client_id=client_id if isinstance(client_id, str) else "",
    )
    return {"message": chat.chat_message_payload(sent)}


async def chat_receipt(consumer, message: dict) -> dict:
    ride_id = _uuid_field(message, "ride_id")
    message_id = _uuid_field(message, "message_id")
    updated = await database_sync_to_async(chat.chat_receipt)(
        ride_id=ride_id, user_id=consumer.user_id, message_id=message_id, status=message.get("status")
    )
    return {"updated": updated}
