"""Every write to ride requests and matches: create, dispatch in widening batches, accept, reject, confirm, cancel,
expire, sweep.

Lock order (CONVENTIONS.md): request -> match -> ride -> wallet. Races are settled by the database: one open request
per passenger and one live match per driver (partial unique constraints), and a compare-and-set on the match's
status under the request's row lock. Pushes, Redis writes and tasks leave only after the commit.
"""

import logging
import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, overload

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.models import User
from billing.selectors import wallet_available
from locations.geo import haversine_m_from
from locations.selectors import NearbyDriver, NearQuery, drivers_available_near, drivers_available_near_many
from locations.services import driver_busy_set
from matching import events, ranking, tasks, windows
from matching.assignment import assign
from matching.errors import (
    MatchingError,
    MatchingException,
    match_not_found,
    match_not_pending,
    request_not_found,
    request_state_message,
    request_status_words,
)
from matching.models import (
    Match,
    MatchStatus,
    PaymentMethod,
    RequestStatus,
    RideRequest,
)
from matching.offer_stats import (
    ACCEPTED,
    DECLINED,
    offer_outcome_record,
    offer_stats_forget,
    offer_stats_get,
)
from matching.service_area import trip_ensure_serviceable
from matching.surge import SurgeQuote, nearest_from_quote, surge_quote
from nebengjek import metrics, tracing
from nebengjek.queries import one_or_none
from products.selectors import product_get, product_vehicle_types
from rides.errors import ride_status_words
from rides.fare import fare_lines
from rides.models import Ride, RideStatus
from rides.services import ride_cancel_by_user, ride_create

logger = logging.getLogger(__name__)

# A timed task may reach a worker a little early; it is a no-op then, so aim just after the deadline.
_TIMER_MARGIN_SECONDS = 0.25
# Drivers under the rating floor are passed over; dispatch looks past them this many times at most per batch.
_FLOOR_REFETCHES = 3


class Actor:
    PASSENGER = "passenger"
    DRIVER = "driver"
    SYSTEM = "system"  # dispatch, the confirm timer and the sweeper


# The request's state machine: (from, to) -> who may make that move. `confirmed` is final here: after it the
# request follows its ride (rides closes it through `request_and_match_release`).
REQUEST_TRANSITIONS: dict[tuple[str, str], set[str]] = {
    (RequestStatus.SEARCHING, RequestStatus.DRIVER_FOUND): {Actor.DRIVER},
    (RequestStatus.SEARCHING, RequestStatus.NO_DRIVER): {Actor.SYSTEM},
    (RequestStatus.SEARCHING, RequestStatus.CANCELLED): {Actor.PASSENGER},
    (RequestStatus.DRIVER_FOUND, RequestStatus.CONFIRMED): {Actor.PASSENGER},
    (RequestStatus.DRIVER_FOUND, RequestStatus.EXPIRED): {Actor.SYSTEM},
    (RequestStatus.DRIVER_FOUND, RequestStatus.CANCELLED): {Actor.PASSENGER},
    # The driver backed out of the confirmed ride before its start: back to dispatch, without that driver.
    (RequestStatus.CONFIRMED, RequestStatus.SEARCHING): {Actor.DRIVER},
}

# The match's state machine: (from, to) -> who may make that move. Anything else is 409 match_not_pending.
MATCH_TRANSITIONS: dict[tuple[str, str], set[str]] = {
    (MatchStatus.PENDING, MatchStatus.ACCEPTED): {Actor.DRIVER},
    (MatchStatus.PENDING, MatchStatus.REJECTED): {Actor.DRIVER},
    (MatchStatus.PENDING, MatchStatus.EXPIRED): {Actor.SYSTEM},
    # Another driver took the request (system), or the passenger called it off.
    (MatchStatus.PENDING, MatchStatus.CANCELLED): {Actor.SYSTEM, Actor.PASSENGER},
    (MatchStatus.ACCEPTED, MatchStatus.CONFIRMED): {Actor.PASSENGER},
    (MatchStatus.ACCEPTED, MatchStatus.EXPIRED): {Actor.SYSTEM},
    (MatchStatus.ACCEPTED, MatchStatus.CANCELLED): {Actor.PASSENGER},
    (MatchStatus.CONFIRMED, MatchStatus.BACKED_OUT): {Actor.DRIVER},
}

# A match in one of these statuses occupies its driver (its ride, once confirmed, releases it at the end).
MATCH_HOLDS_DRIVER = frozenset({MatchStatus.PENDING, MatchStatus.ACCEPTED, MatchStatus.CONFIRMED})


def request_transition_allowed(*, status: str, to: str, actor: str) -> bool:
    return actor in REQUEST_TRANSITIONS.get((status, to), set())


def request_transition_check(*, request: RideRequest, to: str, actor: str) -> None:
    """Raise the 409 of a refused request move: request_not_confirmable (to confirmed), request_not_cancellable
    (to cancelled)."""
    if request_transition_allowed(status=request.status, to=to, actor=actor):
        return
    if to == RequestStatus.CONFIRMED:
        raise MatchingException(
            MatchingError.REQUEST_NOT_CONFIRMABLE,
            request_state_message(request.status),
            details={"status": request.status},
        )
    raise MatchingException(
        MatchingError.REQUEST_NOT_CANCELLABLE,
        f"This request is already {request_status_words(request.status)}.",
        details={"status": request.status},
    )


def match_transition_check(*, status: str, to: str, actor: str) -> None:
    """Raise 409 match_not_pending for a match move the table refuses."""
    if actor not in MATCH_TRANSITIONS.get((status, to), set()):
        raise match_not_pending()


# --- create -------------------------------------------------------------------------------------------------


def request_create(
    *,
    passenger: User,
    pickup_lat: float,
    pickup_lng: float,
    destination_lat: float,
    destination_lng: float,
    payment_method: str = PaymentMethod.CASH,
    product: str | None = None,
) -> RideRequest:
    """A new searching request for `product` (default settings.PRODUCT_DEFAULT) with its fare estimate (under the
    product's current fare policy, whose version the request keeps) and surge fixed, and its first batch offered in
    the same transaction (its own, or a savepoint inside the caller's): one commit from the request to the
    proposals. Both points must be in the service area and the trip at most MAX_TRIP_DISTANCE_M
    (matching/service_area.py)."""
    entry = product_get(code=product)
    distance_m = trip_ensure_serviceable(
        pickup_lat=pickup_lat, pickup_lng=pickup_lng, destination_lat=destination_lat, destination_lng=destination_lng
    )
    now = timezone.now()
    surge = surge_quote(lat=pickup_lat, lng=pickup_lng, now=now, product=entry.code, vehicle_types=entry.vehicle_types)
    lines = fare_lines(terms=entry.terms, distance_m=distance_m, surge_multiplier=surge.multiplier, at=now)
    amount = lines.metered_fare  # the meter's, minimum included
    _ensure_payment_possible(passenger, payment_method=payment_method, amount=amount)
    try:
        with transaction.atomic():
            request = RideRequest.objects.create(
                passenger=passenger,
                pickup_lat=pickup_lat,
                pickup_lng=pickup_lng,
                destination_lat=destination_lat,
                destination_lng=destination_lng,
                payment_method=payment_method,
                product=entry.code,
                fare_policy_id=entry.policy_id,
                estimate_lines=lines.as_dict(),
                estimate_distance_m=_whole_metres(distance_m),
                estimate_amount=amount,
                surge_multiplier=surge.multiplier,
                surge_cell=surge.cell,
                surge_supply=surge.supply,
                surge_demand=surge.demand,
            )
            first_batch = _first_batch_in_transaction(request, surge=surge, now=now)
    except IntegrityError:
        # One open request per passenger is the partial unique constraint's to say (a request stays open until its
        # ride ends): no check before the insert on the way of every request.
        if RideRequest.objects.filter(passenger=passenger, is_open=True).exists():
            raise _active_request_exists() from None
        raise
    if not first_batch:
        _first_dispatch_on_commit(request, arrived_at=request.created_at)
    return request


def _first_batch_in_transaction(request: RideRequest, *, surge: SurgeQuote | None, now: datetime) -> list[Match]:
    """The first batch, offered in the request's own transaction (one commit) from the drivers the surge search
    found; [] when nobody is near (the after-commit dispatch then widens or gives up: the answer stays `searching`)."""
    if not settings.MATCHING_DISPATCH_INLINE or _batched():
        return []
    try:
        return _offer_next_batch(request, offered=[], now=now, surge=surge, give_up=False)
    except RedisError:  # raised by a search, before any write of that batch: the request itself is still good
        logger.warning("first batch search failed, dispatching after the commit", exc_info=True)
        return []


def _first_dispatch_on_commit(request: RideRequest, *, arrived_at: datetime | None = None) -> None:
    """When the request's transaction offered no batch (nobody near, or inline dispatch off): dispatch right after
    the commit, in this process (no broker hop, no queue behind other tasks) — it widens the radius or gives up; the
    Celery task is the fallback when that fails, and the sweeper catches a request whose process died in between
    (`requests_sweep`: searching, no batch out after MATCHING_FIRST_DISPATCH_GRACE_SECONDS). Batched mode: the request
    joins its cell's next window instead (a window it opens closes MATCHING_BATCH_WINDOW_MS after `arrived_at`, the
    request's arrival, not after its commit)."""
    request_id = str(request.id)
    if _batched():
        cell = windows.window_cell(lat=request.pickup_lat, lng=request.pickup_lng)
        _window_join_on_commit([request_id], cell=cell, opened_at=arrived_at)
    elif settings.MATCHING_DISPATCH_INLINE:
        transaction.on_commit(lambda: _dispatch_or_enqueue(request_id))
    else:
        tasks.request_dispatch.delay_on_commit(request_id)


def _dispatch_or_enqueue(request_id: uuid.UUID | str) -> None:
    try:
        request_dispatch(request_id=request_id)
    except Exception:  # the request is committed: it must not fail the caller; the task or the sweeper goes on
        logger.exception("inline dispatch failed, handing it to the worker", extra={"request_id": request_id})
        try:
            tasks.request_dispatch.delay(request_id)
        except Exception:
            logger.exception("dispatch enqueue failed, the sweeper will dispatch", extra={"request_id": request_id})


def _active_request_exists() -> MatchingException:
    return MatchingException(MatchingError.ACTIVE_REQUEST_EXISTS)


def _ensure_payment_possible(passenger: User, *, payment_method: str, amount: int) -> None:
    """A wallet request needs the estimate available: the balance less the charges of completed wallet rides not
    yet settled, so that one balance cannot pay for two rides while settlement runs in the background."""
    if payment_method != PaymentMethod.WALLET:
        return
    wallet = wallet_available(user_id=passenger.id)
    if wallet.available < amount:
        raise MatchingException(
            MatchingError.INSUFFICIENT_BALANCE,
            details={
                "balance": wallet.balance,
                "held": wallet.held,
                "available": wallet.available,
                "fare_estimate": amount,
            },
        )


def _whole_metres(distance_m: float) -> int:
    return int(Decimal(repr(distance_m)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- dispatch -----------------------------------------------------------------------------------------------


def request_dispatch(*, request_id: uuid.UUID | str) -> RideRequest | None:
    """Move a searching request on: nothing while a batch is out; else expire the overdue batch and offer the next
    one (or give up: `no_driver`). Idempotent, safe at any time: the dispatch task, batch expiry and the sweeper."""
    with transaction.atomic():
        request = _request_locked(request_id)
        if request is not None and request.status == RequestStatus.SEARCHING:
            _advance(request, now=timezone.now())
    return request


def _advance(request: RideRequest, *, now: datetime) -> None:
    # a handful: every batch so far (none before the first: matches are only made with a batch_no increment)
    matches = list(Match.objects.select_for_update().filter(request=request)) if request.batch_no else []
    pending = [match for match in matches if match.status == MatchStatus.PENDING]
    if any(match.expires_at > now for match in pending):
        return
    _matches_close(pending, status=MatchStatus.EXPIRED, event=events.MATCH_EXPIRED, reason="expired")
    for match in pending:
        _offer_outcome_on_commit(match.driver_id, DECLINED)
    if _batched():  # the next batch is the next window's: it widens the radius or gives up there
        _window_join_on_commit(
            [str(request.id)], cell=windows.window_cell(lat=request.pickup_lat, lng=request.pickup_lng)
        )
        return
    # a proposal taken away unanswered (another driver won, then backed out) leaves its driver eligible again
    _offer_next_batch(
        request, offered=[match.driver_id for match in matches if match.status != MatchStatus.CANCELLED], now=now
    )


def _offer_next_batch(
    request: RideRequest,
    *,
    offered: Iterable[Any],
    now: datetime,
    surge: SurgeQuote | None = None,
    give_up: bool = True,
) -> list[Match]:
    """Offer the request to the nearest batch at the next radius that has anyone (never to a driver in `offered`,
    who had it before); none left -> `no_driver` (unless not `give_up`: then [] and the request unchanged)."""
    exclude = {str(driver_id) for driver_id in offered} | {str(request.passenger_id)}
    radii = settings.MATCHING_RADII_M
    for radius in [r for r in radii if r > request.radius_m]:
        with tracing.span(
            "matching.dispatch_batch",
            {"ride_request.id": str(request.id), "batch.radius_m": radius, "batch.no": request.batch_no + 1},
        ) as batch_span:
            batch = _propose(
                request, radius=radius, exclude=exclude, batch_no=request.batch_no + 1, now=now, surge=surge
            )
            if batch_span is not None:
                batch_span.set_attribute("batch.proposals", len(batch))
        if batch:
            _batch_out(request, batch, radius=radius, now=now)
            return batch
    if not give_up:
        return []
    _no_driver(request)
    return []


def _batch_out(request: RideRequest, batch: list[Match], *, radius: int, now: datetime) -> None:
    """The batch's matches are inserted: the request records it, the drivers are told and marked busy after the
    commit, and the batch's expiry is timed."""
    request.batch_no += 1
    request.radius_m = radius
    request.save(update_fields=["batch_no", "radius_m", "updated_at"])
    events.proposals_send_on_commit(batch, request=request)
    _drivers_busy_on_commit([match.driver_id for match in batch], busy=True)
    _proposals_sent_on_commit(request, n=len(batch), now=now)
    countdown = settings.MATCHING_PROPOSAL_TTL_SECONDS + _TIMER_MARGIN_SECONDS
    tasks.request_dispatch.apply_async_on_commit(args=(str(request.id),), countdown=countdown)


def _no_driver(request: RideRequest) -> None:
    """Dispatch ran out of radii: the request ends `no_driver` and the passenger is told."""
    request.status = RequestStatus.NO_DRIVER
    request.is_open = False
    request.save(update_fields=["status", "is_open", "updated_at"])
    events.request_updated_send_on_commit(request)


def _propose(
    request: RideRequest,
    *,
    radius: int,
    exclude: set[str],
    batch_no: int,
    now: datetime,
    surge: SurgeQuote | None = None,
) -> list[Match]:
    """Proposals to up to a batch of the nearest free drivers within `radius`; drivers it tried join `exclude`."""
    size = settings.MATCHING_BATCH_SIZE
    candidates = _candidates(
        request, radius=radius, exclude=exclude, limit=size + settings.MATCHING_CANDIDATE_SLACK, surge=surge
    )
    expires_at = now + timedelta(seconds=settings.MATCHING_PROPOSAL_TTL_SECONDS)
    batch: list[Match] = []
    tried = 0
    while len(batch) < size and tried < len(candidates):
        chunk = candidates[tried : tried + size - len(batch)]
        tried += len(chunk)
        batch += _matches_insert(request, chunk, batch_no=batch_no, expires_at=expires_at)
    exclude.update(str(candidate.id) for candidate, _ in candidates[:tried])
    return batch


def _candidates(
    request: RideRequest, *, radius: int, exclude: set[str], limit: int, surge: SurgeQuote | None = None
) -> list[tuple[NearbyDriver, dict]]:
    """The nearest available drivers of the request's product, ranked fairly among near-equals
    (matching/ranking.py: rating, acceptance and cancellation over the last offers), each with the inputs its match
    records: [(NearbyDriver, ranking dict)]. Drivers under the rating floor are passed over (they join `exclude`)
    and the search goes on past them, a few times at most."""
    found: list[NearbyDriver] = []
    ratings: dict[str, Any] = {}
    seen = set(exclude)
    for attempt in range(_FLOOR_REFETCHES):
        wanted = limit - len(found)
        nearest = _nearest(request, radius=radius, exclude=seen, limit=wanted, surge=surge if attempt == 0 else None)
        if not ranking.needs_ratings(nearest):  # no floor and nobody near-equal: distance order it is
            return [(driver, ranking.distance_only_record(driver.distance_m)) for driver in nearest]
        ratings |= ranking.driver_ratings(driver.id for driver in nearest)
        refused = {driver.id for driver in nearest if ranking.under_floor(ratings.get(driver.id, ranking.UNRATED))}
        exclude.update(refused)
        seen.update(driver.id for driver in nearest)
        found += [driver for driver in nearest if driver.id not in refused]
        if not refused or len(nearest) < wanted:
            break
    return _ranked_fairly(found, ratings)


def _ranked_fairly(found: list[NearbyDriver], ratings: dict[str, Any]) -> list[tuple[NearbyDriver, dict]]:
    weights = ranking.weights_from_settings()
    stats = offer_stats_get(driver_ids=[driver.id for driver in found])
    inputs = {
        str(driver.id): ranking.CandidateInputs(
            driver_id=str(driver.id),
            distance_m=driver.distance_m,
            rating=ratings.get(driver.id, ranking.UNRATED),
            stats=stats.get(str(driver.id), ranking.NO_OFFERS),
        )
        for driver in found
    }
    return [
        (driver, ranking.ranking_record(inputs[str(driver.id)], weights))
        for driver in ranking.rank_fair(found, inputs, weights)
    ]


def _nearest(
    request: RideRequest, *, radius: int, exclude: set[str], limit: int, surge: SurgeQuote | None
) -> list[NearbyDriver]:
    """The nearest available drivers: from the surge quote's search when it can tell, else a search of the index."""
    nearest = nearest_from_quote(surge, radius_m=radius, exclude=exclude, limit=limit) if surge else None
    if nearest is None:
        nearest = drivers_available_near(
            lat=request.pickup_lat,
            lng=request.pickup_lng,
            radius_m=radius,
            limit=limit,
            exclude_ids=tuple(exclude),
            vehicle_types=product_vehicle_types(code=request.product),
        )
    return nearest


def _matches_insert(
    request: RideRequest, candidates: list[tuple[NearbyDriver, dict]], *, batch_no: int, expires_at: datetime
) -> list[Match]:
    """Insert pending matches; a driver who is busy after all (live match: constraint) is skipped, not an error.

    Driver rows are claimed first with SKIP LOCKED, so two dispatches never wait on each other's uncommitted
    proposals (no deadlock); the partial unique index then refuses drivers already holding a committed live match.
    The claim takes only active (not suspended) and verified drivers, whatever the live index still says: a driver
    suspended or un-verified a moment ago is never proposed (one being suspended right now is locked: skipped).
    """
    claimed = set(
        User.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .filter(
            id__in=[candidate.id for candidate, _ in candidates],
            is_active=True,
            driver_profile__is_verified=True,
            driver_profile__vehicle_type__in=product_vehicle_types(code=request.product),
        )
        .values_list("id", flat=True)
    )
    rows = [
        Match(
            id=uuid.uuid4(),
            request=request,
            driver_id=uuid.UUID(str(candidate.id)),
            batch_no=batch_no,
            distance_to_pickup_m=round(candidate.distance_m),
            expires_at=expires_at,
            ranking=inputs,
        )
        for candidate, inputs in candidates
        if uuid.UUID(str(candidate.id)) in claimed
    ]
    if not rows:
        return []
    Match.objects.bulk_create(rows, ignore_conflicts=True)
    inserted = set(Match.objects.filter(id__in=[row.id for row in rows]).values_list("id", flat=True))
    return [row for row in rows if row.id in inserted]


# --- batched dispatch (MATCHING_MODE=batched) ----------------------------------------------------------


def _batched() -> bool:
    return settings.MATCHING_MODE == "batched"


def _window_join_on_commit(request_ids: list[str], *, cell: str, opened_at: datetime | None = None) -> None:
    """After the commit, the requests join their cell's next window; the first to join schedules its task."""
    if request_ids:
        transaction.on_commit(lambda: _window_join(request_ids, cell=cell, opened_at=opened_at))


def _window_join(request_ids: list[str], *, cell: str, opened_at: datetime | None = None) -> None:
    """Join the cell's window; when this opens it, its task runs MATCHING_BATCH_WINDOW_MS after `opened_at` (default
    now): a new request's window is counted from its arrival, so the time its own commit took is not added."""
    window_s = settings.MATCHING_BATCH_WINDOW_MS / 1000
    try:
        if windows.window_join(cell=cell, request_ids=request_ids):
            waited = (timezone.now() - opened_at).total_seconds() if opened_at else 0.0
            tasks.requests_window.apply_async(args=(cell,), countdown=min(window_s, max(0.0, window_s - waited)))
    except Exception:  # the requests are committed and searching: the sweeper dispatches them again
        logger.exception(
            "joining the dispatch window failed, the sweeper will dispatch",
            extra={"cell": cell, "request_ids": request_ids},
        )


@dataclass
class _WindowSeat:
    """One request of a window: the drivers it may not be offered, its radius this window and its candidates."""

    request: RideRequest
    excluded: set[str]
    radius: int = 0
    candidates: list[NearbyDriver] = field(default_factory=list)


def requests_window_assign(*, cell: str) -> dict[str, int]:
    """Assign the requests waiting in the cell's window together (matching/assignment.py): the least total pickup
    distance (plus the rating term) with each request offered up to MATCHING_BATCH_SIZE distinct drivers and each
    driver one request. Each request searches from the next radius that has anyone, as the immediate dispatch does;
    a request left without a driver joins the next window at that radius (the last radius: `no_driver`). Requests
    locked elsewhere (an answer, a cancel) are skipped: their holder moves them on. Idempotent.

    Two steps: one short transaction locks the window's requests, expires their overdue batches, searches and
    solves; then each request is proposed (or rolled over) in its own transaction, so its drivers are told at its
    commit, not at the end of the whole window. A request moved on in between (answered, cancelled, dispatched by
    another window) is left alone: its batch number or radius changed."""
    request_ids = windows.window_drain(cell=cell)
    if not request_ids:
        return {"requests": 0, "proposed": 0, "rolled": 0}
    with transaction.atomic():
        seats = _window_seats(request_ids, now=timezone.now())
        offers = _window_solve(seats)
    rolled: list[str] = []
    proposed = 0
    for seat, chosen in zip(seats, offers, strict=True):
        with transaction.atomic():
            outcome = _window_seat_settle(seat, chosen)
        proposed += outcome == "proposed"
        if outcome == "rolled":
            rolled.append(str(seat.request.id))
    if rolled:
        _window_join(rolled, cell=cell)
    return {"requests": len(seats), "proposed": proposed, "rolled": len(rolled)}


def _window_seat_settle(seat: _WindowSeat, chosen: list[NearbyDriver]) -> str:
    """In the caller's transaction: propose the seat's request to its chosen drivers, else widen its radius for the
    next window, or end it `no_driver` at the last radius. Returns proposed | rolled | no_driver | moved_on."""
    request = _request_locked(seat.request.id)
    if (
        request is None
        or request.status != RequestStatus.SEARCHING
        or request.batch_no != seat.request.batch_no
        or request.radius_m != seat.request.radius_m
    ):
        return "moved_on"
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.MATCHING_PROPOSAL_TTL_SECONDS)
    batch = (
        _matches_insert(
            request,
            [(driver, ranking.batched_record(driver.distance_m)) for driver in chosen],
            batch_no=request.batch_no + 1,
            expires_at=expires_at,
        )
        if chosen
        else []
    )
    if batch:
        _batch_out(request, batch, radius=seat.radius, now=now)
        return "proposed"
    if not seat.radius or seat.radius >= settings.MATCHING_RADII_M[-1]:
        _no_driver(request)
        return "no_driver"
    request.radius_m = seat.radius
    request.save(update_fields=["radius_m", "updated_at"])
    return "rolled"


def _window_seats(request_ids: list[str], *, now: datetime) -> list[_WindowSeat]:
    """The window's searching requests, row-locked (SKIP LOCKED, oldest first) without a live batch: an overdue
    batch is expired here; each with the drivers it had before excluded and its candidates. The candidates come from
    one pipelined search for the whole window, made before the locks (`_window_searched`); a request that moved on
    in between (another batch number or radius) is left to its next window."""
    searched = _window_searched(request_ids)
    requests = list(
        RideRequest.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("passenger")
        .filter(id__in=list(searched), status=RequestStatus.SEARCHING)
        .order_by("created_at", "id")
    )
    matches: dict[uuid.UUID, list[Match]] = {}
    for match in Match.objects.select_for_update().filter(request__in=[r for r in requests if r.batch_no]):
        matches.setdefault(match.request_id, []).append(match)
    seats = []
    for request in requests:
        seen = searched[request.id]
        if (request.batch_no, request.radius_m) != (seen.request.batch_no, seen.request.radius_m):
            continue  # moved on since the search: its holder (an answer, the expiry) sent it to a window again
        had = matches.get(request.id, [])
        pending = [match for match in had if match.status == MatchStatus.PENDING]
        if any(match.expires_at > now for match in pending):
            continue  # a batch is out: its expiry or answers move the request on
        _matches_close(pending, status=MatchStatus.EXPIRED, event=events.MATCH_EXPIRED, reason="expired")
        excluded = {str(m.driver_id) for m in had} | {str(request.passenger_id)}
        seat = _WindowSeat(request, excluded=excluded, radius=seen.radius)
        seat.candidates = [driver for driver in seen.candidates if driver.id not in excluded]
        seats.append(seat)
    return seats


def _window_searched(request_ids: list[str]) -> dict[uuid.UUID, _WindowSeat]:
    """The window's searching requests as read now (no lock), each with its nearest candidates within the widest
    radius left (MATCHING_BATCH_CANDIDATES, the drivers it had before excluded) and its radius this window: the next
    one that has anyone (none left: radius 0). All the searches in one pipelined round trip."""
    requests = list(RideRequest.objects.filter(id__in=request_ids, status=RequestStatus.SEARCHING))
    had: dict[uuid.UUID, set[str]] = {}
    for request_id, driver_id in Match.objects.filter(request__in=[r for r in requests if r.batch_no]).values_list(
        "request_id", "driver_id"
    ):
        had.setdefault(request_id, set()).add(str(driver_id))
    seats = {
        request.id: _WindowSeat(request, excluded=had.get(request.id, set()) | {str(request.passenger_id)})
        for request in requests
    }
    searching = [seat for seat in seats.values() if _radii_left(seat.request)]
    found = drivers_available_near_many(
        [
            NearQuery(
                lat=seat.request.pickup_lat,
                lng=seat.request.pickup_lng,
                radius_m=_radii_left(seat.request)[-1],
                limit=settings.MATCHING_BATCH_CANDIDATES,
                exclude_ids=tuple(seat.excluded),
                vehicle_types=tuple(product_vehicle_types(code=seat.request.product)),
            )
            for seat in searching
        ]
    )
    for seat, nearest in zip(searching, found, strict=True):
        if nearest:
            seat.radius = next(r for r in _radii_left(seat.request) if r >= nearest[0].distance_m)
            seat.candidates = [driver for driver in nearest if driver.distance_m <= seat.radius]
    return seats


def _radii_left(request: RideRequest) -> list[int]:
    return [r for r in settings.MATCHING_RADII_M if r > request.radius_m]


def _window_solve(seats: list[_WindowSeat]) -> list[list[NearbyDriver]]:
    """For each seat, the drivers to offer it (nearest first), from the assignment over every seat's candidates:
    any candidate of the window within a request's radius (and not excluded for it) is a possible pair."""
    drivers = list({driver.id: driver for seat in seats for driver in seat.candidates}.values())
    ratings = ranking.driver_ratings(driver.id for driver in drivers) if drivers else {}
    drivers = [driver for driver in drivers if not ranking.under_floor(ratings.get(driver.id, ranking.UNRATED))]
    # the fair ranking's term (matching/ranking.py: rating, acceptance, back-outs), in metres on top of the distance
    weights = ranking.weights_from_settings()
    stats = offer_stats_get(driver_ids=[driver.id for driver in drivers])
    inputs = {
        str(driver.id): ranking.CandidateInputs(
            driver_id=str(driver.id),
            distance_m=0.0,
            rating=ratings.get(driver.id, ranking.UNRATED),
            stats=stats.get(str(driver.id), ranking.NO_OFFERS),
        )
        for driver in drivers
    }
    rating_cost = [ranking.candidate_cost(inputs[str(driver.id)], weights) for driver in drivers]
    distances = [[_pickup_distance(seat, driver) for driver in drivers] for seat in seats]
    costs = [[distance + extra for distance, extra in zip(row, rating_cost, strict=True)] for row in distances]
    started = time.perf_counter()
    offers = assign(
        costs, [settings.MATCHING_BATCH_SIZE] * len(seats), extra_slot_cost=settings.MATCHING_BATCH_BACKUP_COST_M
    )
    solve_seconds = time.perf_counter() - started
    n_seats = len(seats)
    transaction.on_commit(lambda: metrics.dispatch_window_observe(requests=n_seats, solve_seconds=solve_seconds))
    return [[drivers[j]._replace(distance_m=distances[i][j]) for j in columns] for i, columns in enumerate(offers)]


def _pickup_distance(seat: _WindowSeat, driver: NearbyDriver) -> float:
    """Metres from the driver to the seat's pickup; infinite when the pair is not allowed."""
    if not seat.radius or driver.id in seat.excluded:
        return math.inf
    distance = haversine_m_from(seat.request.pickup_lat, seat.request.pickup_lng)(driver.lat, driver.lng)
    return distance if distance <= seat.radius else math.inf


# --- a driver's answer ----------------------------------------------------------------------------------


def match_accept(*, match_id: uuid.UUID | str, driver: User) -> Match:
    """The first driver to accept wins: the request goes `driver_found`, the batch's other proposals are cancelled."""
    with transaction.atomic():
        request, match = _lock_for_driver(match_id=match_id, driver=driver, with_profile=True)
        now = timezone.now()
        _ensure_open_proposal(request, match, to=MatchStatus.ACCEPTED, now=now)
        _match_compare_and_set(match, expected=MatchStatus.PENDING, status=MatchStatus.ACCEPTED, responded_at=now)
        others = list(
            Match.objects.select_for_update().filter(request=request, status=MatchStatus.PENDING).exclude(id=match.id)
        )
        _matches_close(others, status=MatchStatus.CANCELLED, event=events.MATCH_CANCELLED, reason="taken")
        request.status = RequestStatus.DRIVER_FOUND
        request.confirm_deadline = now + timedelta(seconds=settings.MATCHING_CONFIRM_TTL_SECONDS)
        request.save(update_fields=["status", "confirm_deadline", "updated_at"])
        events.match_send_on_commit(
            match, request=request, type=events.MATCH_ACCEPTED, user_ids=[request.passenger_id, match.driver_id]
        )
        countdown = settings.MATCHING_CONFIRM_TTL_SECONDS + _TIMER_MARGIN_SECONDS
        tasks.request_confirm_expire.apply_async_on_commit(args=(str(request.id),), countdown=countdown)
        transaction.on_commit(lambda: metrics.proposals_count("accepted"))
        _offer_outcome_on_commit(match.driver_id, ACCEPTED)
    return match


def match_reject(*, match_id: uuid.UUID | str, driver: User) -> Match:
    """The driver says no: freed at once; when the batch has no open proposal left, the next batch goes out now."""
    with transaction.atomic():
        request, match = _lock_for_driver(match_id=match_id, driver=driver)
        now = timezone.now()
        _ensure_open_proposal(request, match, to=MatchStatus.REJECTED, now=now)
        _match_compare_and_set(match, expected=MatchStatus.PENDING, status=MatchStatus.REJECTED, responded_at=now)
        _drivers_busy_on_commit([match.driver_id], busy=False)
        transaction.on_commit(lambda: metrics.proposals_count("rejected"))
        _offer_outcome_on_commit(match.driver_id, DECLINED)
        _advance(request, now=now)
    return match


def _lock_for_driver(
    *, match_id: uuid.UUID | str, driver: User, with_profile: bool = False
) -> tuple[RideRequest, Match]:
    """The match's request, then the match, locked (the global order). `with_profile`: the driver's row and profile
    come along in the match's query (read, not locked), for the pushes that show the driver."""
    request_id = one_or_none(Match.objects.filter(id=match_id, driver=driver).values_list("request_id", flat=True))
    if request_id is None:
        raise match_not_found()
    request = _request_locked(request_id)
    assert request is not None  # the match row names it, and a request is never deleted
    matches = Match.objects.select_for_update(of=("self",))
    if with_profile:
        matches = matches.select_related("driver__driver_profile")
    match = matches.get(id=match_id)
    match.request = request
    return request, match


def _ensure_open_proposal(request: RideRequest, match: Match, *, to: str, now: datetime) -> None:
    """The driver may answer a pending, unexpired proposal of a request still searching."""
    match_transition_check(status=match.status, to=to, actor=Actor.DRIVER)
    if match.expires_at <= now or not request_transition_allowed(
        status=request.status, to=RequestStatus.DRIVER_FOUND, actor=Actor.DRIVER
    ):
        raise match_not_pending()


def _match_compare_and_set(match: Match, *, expected: str, status: str, **changes: Any) -> None:
    fields = {"status": status, **changes}
    if status not in MATCH_HOLDS_DRIVER:
        fields["holds_driver"] = False
    if Match.objects.filter(id=match.id, status=expected).update(**fields) != 1:
        raise match_not_pending()
    for name, value in fields.items():
        setattr(match, name, value)


# --- the passenger's answer -----------------------------------------------------------------------------


def request_confirm(*, request_id: uuid.UUID | str, passenger: User) -> Ride:
    """The passenger takes the accepted driver: the ride is created (`driver_en_route`); both sides are told."""
    with transaction.atomic():
        request = _request_locked(request_id, passenger=passenger)
        now = timezone.now()
        request_transition_check(request=request, to=RequestStatus.CONFIRMED, actor=Actor.PASSENGER)
        if request.confirm_deadline <= now:  # type: ignore[operator]  # set while a driver is found
            raise MatchingException(MatchingError.CONFIRM_EXPIRED)
        match = (
            Match.objects.select_for_update(of=("self",))
            .select_related("driver__driver_profile")
            .get(request=request, status=MatchStatus.ACCEPTED)
        )
        _match_compare_and_set(match, expected=MatchStatus.ACCEPTED, status=MatchStatus.CONFIRMED)
        request.status = RequestStatus.CONFIRMED
        request.save(update_fields=["status", "updated_at"])
        confirmed = events.match_event(
            match, request=request, type=events.MATCH_CONFIRMED, user_ids=[request.passenger_id, match.driver_id]
        )
        return ride_create(request=request, match=match, events_before=[confirmed])  # stored in one statement


def request_confirm_expire(*, request_id: uuid.UUID | str) -> RideRequest | None:
    """The confirm window passed: the request expires, the driver is freed, both are told. No-op until then."""
    with transaction.atomic():
        request = _request_locked(request_id)
        if request is None or not request_transition_allowed(
            status=request.status, to=RequestStatus.EXPIRED, actor=Actor.SYSTEM
        ):
            return request
        if request.confirm_deadline > timezone.now():  # type: ignore[operator]  # set while a driver is found
            return request
        accepted = list(Match.objects.select_for_update().filter(request=request, status=MatchStatus.ACCEPTED))
        _matches_close(
            accepted,
            status=MatchStatus.EXPIRED,
            event=events.MATCH_EXPIRED,
            reason="confirm_timeout",
            also_tell=[request.passenger_id],
        )
        request.status = RequestStatus.EXPIRED
        request.is_open = False
        request.save(update_fields=["status", "is_open", "updated_at"])
    return request


def request_cancel(*, request_id: uuid.UUID | str, passenger: User, reason: str = "") -> RideRequest:
    """The passenger calls it off before the ride starts; every driver still involved is told. Returns the request
    as committed."""
    with transaction.atomic():
        request = _request_locked(request_id, passenger=passenger)
        if request.status == RequestStatus.CANCELLED:
            return request  # a repeat is answered with the request as it is
        if request.status == RequestStatus.CONFIRMED:
            # After confirm the request follows its ride: cancelling it is cancelling the ride (rides' rules).
            return _ride_cancel_before_start(request, passenger=passenger, reason=reason)
        request_transition_check(request=request, to=RequestStatus.CANCELLED, actor=Actor.PASSENGER)
        live = list(
            Match.objects.select_for_update().filter(
                request=request, status__in=[MatchStatus.PENDING, MatchStatus.ACCEPTED]
            )
        )
        _matches_close(live, status=MatchStatus.CANCELLED, event=events.MATCH_CANCELLED, reason="passenger_cancelled")
        request.status = RequestStatus.CANCELLED
        request.is_open = False
        request.save(update_fields=["status", "is_open", "updated_at"])
    return request


def _ride_cancel_before_start(request: RideRequest, *, passenger: User, reason: str) -> RideRequest:
    """After confirm the ride exists: cancelling means cancelling the ride (rides' rules: only before it starts).
    Returns `request` as the ride's cancel left it (closed by `request_and_match_release`), without a re-read."""
    ride = Ride.objects.filter(request=request).order_by("-created_at").first()
    if ride is None or ride.status == RideStatus.CANCELLED:
        return request
    if ride.status != RideStatus.DRIVER_EN_ROUTE:
        raise MatchingException(
            MatchingError.REQUEST_NOT_CANCELLABLE,
            f"The ride is already {ride_status_words(ride.status)}; it can no longer be cancelled.",
            details={"ride_id": str(ride.id), "status": ride.status},
        )
    released = ride_cancel_by_user(ride=ride, user=passenger, reason=reason).request
    request.is_open, request.updated_at = released.is_open, released.updated_at
    return request


# --- for rides: the request and match of a ride (rides owns the ride, matching these rows) ---------------


def request_and_match_lock_for_ride(
    *, request_id: uuid.UUID | str, match_id: uuid.UUID | str
) -> tuple[RideRequest, Match]:
    """The ride's request and match, row-locked in the lock order (request -> match); the caller locks the ride
    next, inside its transaction."""
    request = RideRequest.objects.select_for_update().get(pk=request_id)
    match = Match.objects.select_for_update().get(pk=match_id)
    return request, match


def request_and_match_release(*, request: RideRequest, match: Match) -> None:
    """The ride is over: the driver may take new work and the passenger may request again. Both rows are locked
    by the caller (`request_and_match_lock_for_ride`); the instances are updated to match what is stored."""
    now = timezone.now()
    Match.objects.filter(pk=match.pk).update(holds_driver=False)
    RideRequest.objects.filter(pk=request.pk).update(is_open=False, updated_at=now)
    match.holds_driver = False
    request.is_open, request.updated_at = False, now


def request_back_to_dispatch(*, request: RideRequest, match: Match) -> RideRequest:
    """The driver cancelled the confirmed ride before its start (rides.services.ride_cancel): their match is
    `backed_out` (counted on their profile and in the ranking), the request goes back to `searching` at the first
    radius at once, never to that driver (nor to one offered it before), and the passenger is told
    (`request.updated`). Both rows are locked by the caller; returns the request as changed."""
    from accounts.services import driver_cancellation_count

    if not request_transition_allowed(status=request.status, to=RequestStatus.SEARCHING, actor=Actor.DRIVER):
        raise MatchingException(MatchingError.REQUEST_NOT_CANCELLABLE, details={"status": request.status})
    match_transition_check(status=match.status, to=MatchStatus.BACKED_OUT, actor=Actor.DRIVER)
    now = timezone.now()
    _match_compare_and_set(match, expected=MatchStatus.CONFIRMED, status=MatchStatus.BACKED_OUT)
    driver_cancellation_count(driver_id=match.driver_id)
    driver_id = str(match.driver_id)
    transaction.on_commit(lambda: offer_stats_forget(driver_id=driver_id), robust=True)  # rebuilt with the "b"
    request.status, request.radius_m, request.confirm_deadline = RequestStatus.SEARCHING, 0, None
    request.save(update_fields=["status", "radius_m", "confirm_deadline", "updated_at"])
    offered = list(
        Match.objects.filter(request=request).exclude(status=MatchStatus.CANCELLED).values_list("driver_id", flat=True)
    )
    if _batched() or not _offer_next_batch(request, offered=offered, now=now, give_up=False):
        _first_dispatch_on_commit(request)  # batched mode: the request joins its cell's next window
    events.request_updated_send_on_commit(request)
    return request


# --- housekeeping ---------------------------------------------------------------------------------------


def requests_sweep() -> dict[str, int]:
    """Catch up with whatever a lost or late task left behind: overdue batches, requests never dispatched (their
    process died between the commit and the first batch: after MATCHING_FIRST_DISPATCH_GRACE_SECONDS), unconfirmed
    matches past their window. Each request is handled in its own transaction, idempotently."""
    now = timezone.now()
    limit = settings.MATCHING_SWEEP_LIMIT
    stale_before = now - timedelta(
        seconds=settings.MATCHING_PROPOSAL_TTL_SECONDS + settings.MATCHING_SWEEP_GRACE_SECONDS
    )
    undispatched_before = now - timedelta(seconds=settings.MATCHING_FIRST_DISPATCH_GRACE_SECONDS)
    overdue = set(
        Match.objects.filter(status=MatchStatus.PENDING, expires_at__lte=now)
        .values_list("request_id", flat=True)
        .distinct()[:limit]
    )
    overdue |= set(
        RideRequest.objects.filter(status=RequestStatus.SEARCHING, updated_at__lte=stale_before).values_list(
            "id", flat=True
        )[:limit]
    )
    overdue |= set(
        RideRequest.objects.filter(
            status=RequestStatus.SEARCHING, batch_no=0, updated_at__lte=undispatched_before
        ).values_list("id", flat=True)[:limit]
    )
    unconfirmed = list(
        RideRequest.objects.filter(status=RequestStatus.DRIVER_FOUND, confirm_deadline__lte=now).values_list(
            "id", flat=True
        )[:limit]
    )
    for request_id in overdue:
        request_dispatch(request_id=request_id)
    for request_id in unconfirmed:
        request_confirm_expire(request_id=request_id)
    return {"dispatched": len(overdue), "expired": len(unconfirmed)}


# --- shared steps -----------------------------------------------------------------------------------------


@overload
def _request_locked(request_id: uuid.UUID | str, *, passenger: User) -> RideRequest: ...
@overload
def _request_locked(request_id: uuid.UUID | str, *, passenger: None = None) -> RideRequest | None: ...
def _request_locked(request_id: uuid.UUID | str, *, passenger: User | None = None) -> RideRequest | None:
    """The request, row-locked (first in the lock order), with its passenger; a passenger sees only their own."""
    query = RideRequest.objects.select_for_update(of=("self",)).select_related("passenger").filter(id=request_id)
    if passenger is None:
        return one_or_none(query)
    request = one_or_none(query.filter(passenger=passenger))
    if request is None:
        raise request_not_found()
    return request


def _matches_close(
    matches: list[Match], *, status: str, event: str, reason: str, also_tell: Iterable[Any] = ()
) -> None:
    """End live matches (already locked) in one update, free their drivers and tell them after the commit."""
    if not matches:
        return
    Match.objects.filter(id__in=[match.id for match in matches]).update(status=status, holds_driver=False)
    for match in matches:
        match.status = status
        match.holds_driver = False
    events.outcomes_send_on_commit(matches, type=event, reason=reason, also_tell=also_tell)
    _drivers_busy_on_commit([match.driver_id for match in matches], busy=False)
    transaction.on_commit(lambda: metrics.proposals_count(status, len(matches)))


def _proposals_sent_on_commit(request: RideRequest, *, n: int, now: datetime) -> None:
    batch_no, created_at = request.batch_no, request.created_at
    transaction.on_commit(
        lambda: metrics.proposals_sent(n=n, batch_no=batch_no, request_created_at=created_at, proposed_at=now)
    )


def _offer_outcome_on_commit(driver_id: uuid.UUID | str, outcome: str) -> None:
    driver = str(driver_id)
    transaction.on_commit(lambda: offer_outcome_record(driver_id=driver, outcome=outcome), robust=True)


def _drivers_busy_on_commit(driver_ids: Iterable[uuid.UUID | str], *, busy: bool) -> None:
    ids = [str(driver_id) for driver_id in driver_ids]
    if ids:
        transaction.on_commit(lambda: _drivers_busy_set(ids, busy=busy), robust=True)


def _drivers_busy_set(driver_ids: Iterable[str], *, busy: bool) -> None:
    for driver_id in driver_ids:
        driver_busy_set(driver_id=driver_id, busy=busy)
