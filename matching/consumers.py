"""Socket handlers for a driver's answer to a proposal (`match.accept`, `match.reject`), registered in
gateway/ws_handlers.py. Thin: parse, call the same services as REST, answer with the match."""
import uuid

from channels.db import database_sync_to_async

from matching import selectors, services
from matching.serializers import MatchOutputSerializer
from nebengjek.errors import CommonError, DomainError
from nebengjek.realtime import plain


async def match_accept(consumer, message):
    match_id = _match_id(message)
    return await database_sync_to_async(_answer)(services.match_accept, match_id, consumer.scope["user"])


async def match_reject(consumer, message):
    match_id = _match_id(message)
    return await database_sync_to_async(_answer)(services.match_reject, match_id, consumer.scope["user"])


def _answer(service, match_id, driver):
    service(match_id=match_id, driver=driver)
    match = selectors.match_get_for_driver(match_id=match_id, driver=driver)
    return {"match": plain(MatchOutputSerializer(match).data)}


def _match_id(message):
    try:
        return uuid.UUID(message["match_id"])  # a JSON string only: a 32-digit number is not an id
    except (KeyError, ValueError, TypeError, AttributeError):
        raise DomainError(CommonError.INVALID_INPUT, "match_id: a match id (UUID) is required.",
                          details={"match_id": ["A valid UUID is required."]}) from None
