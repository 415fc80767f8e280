"""Socket handlers for a driver's answer to a proposal (`match.accept`, `match.reject`), registered in
gateway/ws_handlers.py. Thin: parse, call the same services as REST, answer with the match."""

import uuid

from matching import selectors, services
from matching.serializers import MatchOutputSerializer
from nebengjek.errors import CommonError, DomainError
from nebengjek.realtime import plain
from nebengjek.sync_pool import database_sync_to_async


async def match_accept(consumer, message):
    match_id = _match_id(message)
    return await database_sync_to_async(_answer)(services.match_accept, match_id, consumer.scope["user"])


async def match_reject(consumer, message):
    match_id = _match_id(message)
    return await database_sync_to_async(_answer)(services.match_reject, match_id, consumer.scope["user"])


def _answer(service, match_id, driver):
    match = service(match_id=match_id, driver=driver)
    if service is not services.match_accept:  # accept's match comes back with its driver and request loaded
        match = selectors.match_get_for_driver(match_id=match_id, driver=driver)
    return {"match": plain(MatchOutputSerializer(match).data)}


def _match_id(message):
    try:
        return uuid.UUID(message["match_id"])  # a JSON string only: a 32-digit number is not an id
    except (KeyError, ValueError, TypeError, AttributeError):
        raise DomainError(
            CommonError.INVALID_INPUT,
            "match_id: a match id (UUID) is required.",
            details={"match_id": ["A valid UUID is required."]},
        ) from None
