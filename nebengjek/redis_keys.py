"""Every Redis key the project uses, with its TTL. Redis holds only what is live and can be rebuilt."""

# accounts: OTP send counters (fixed windows)
OTP_SENDS_WINDOW = "otp:sends:win:{msisdn}"  # TTL settings.OTP_SEND_WINDOW_SECONDS
OTP_SENDS_DAY = "otp:sends:day:{msisdn}"  # TTL 24 h
OTP_SENDS_IP = "otp:sends:ip:{ip}"  # TTL 1 h
OTP_SENDS_DAY_TTL = 24 * 3600
OTP_SENDS_IP_TTL = 3600

# accounts: ended sign-in sessions (logout, suspension, an operator's revoke), read by the REST authentication and
# the fast nearby path: one STRING per session id (32 hex digits, as tokens carry it), TTL the access-token lifetime
# (settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]): once it runs out, no access token of that session is left.
AUTH_REVOKED_SESSION = "auth:revoked:{sid}"
# STRING set when the revoked sessions above are complete (by accounts.services.revoked_sessions_repair, from the
# database); missing = Redis was flushed or is new: the authentication asks the database until it is back. No TTL.
AUTH_REVOKED_COMPLETE = "auth:revoked:complete"


# rides: accepted driver positions during a ride, written by locations, consumed by the rides meter (a consumer
# group, so each entry is applied once; entries are deleted once applied and acked). No TTL; capped by MAXLEN.
RIDE_TRACK_STREAM = "rides:track"
RIDE_TRACK_GROUP = "rides-meter"
RIDE_TRACK_STREAM_MAXLEN = 1_000_000  # approximate cap if the meter stops consuming: ~100 MB worst case

# locations: the live state of users and drivers. All of it is rebuilt from the next beacons/positions and, for
# the beacon/busy/tracking sets, from the database by the sweeper (locations.tasks.live_sweep) after a flush.
USER_LAST_POSITION = "loc:last:{user_id}"  # HASH lat, lng, t (epoch s, float): latest accepted position of a user
USER_LAST_POSITION_PREFIX = "loc:last:"  # the same key, as a prefix the Lua scripts append a user id to
USER_LAST_POSITION_TTL = 3600  # refreshed on each accepted position
# GEO: available drivers (beacon on, not busy) at their latest accepted position, so that a nearby search is one
# GEOSEARCH; stale ones swept. Busy drivers leave it and rejoin when freed (locations.live.DRIVER_STATE_LUA).
DRIVERS_GEO = "drivers:geo"
DRIVERS_SEEN = "drivers:seen"  # ZSET beacon-on driver id (busy too) -> t of that position (the sweeper reads it); no TTL
DRIVERS_POSITION = "drivers:pos"  # HASH beacon-on driver id (busy too) -> "lat,lng,t" exact; no TTL
DRIVERS_BEACON = "drivers:beacon"  # SET: drivers whose beacon is on (mirror of locations.DriverPresence); no TTL
DRIVERS_BUSY = "drivers:busy"  # SET: drivers held by a live match/ride (mirror of Match.holds_driver); no TTL
# HASH driver id -> ride id: while present, the driver's accepted positions are appended to RIDE_TRACK_STREAM
# (same script, before the ack) as entries {ride_id, driver_id, lat, lng, t}: lat/lng decimal degrees and t the
# position's time in epoch seconds (float), all as strings. No TTL; set/cleared by locations.services.
DRIVERS_TRACKING = "drivers:tracking"
LIVE_STATE_MARKER = "live:rebuilt"  # STRING set by the sweeper's rebuild; missing = Redis was flushed; no TTL
# SET: ids of suspended users (mirror of User.is_active=False, kept by accounts.services and repaired by the live
# sweeper): the fast nearby path (locations.asgi) refuses them without a database query. No TTL.
USERS_SUSPENDED = "users:suspended"


def key(template, **parts):
    return template.format(**parts)

# ops: the operations page's broadcaster (nebengjek.ops.services)
OPS_WATCHED = "ops:watched"  # STRING set while a staff page is open (refreshed by its token fetches)
OPS_WATCHED_TTL = 90  # the page refreshes every 60 s
OPS_LAST_DIGEST = "ops:digest"  # STRING hash of the last snapshot sent; TTL settings.OPS_RESEND_SECONDS
OPS_GAUGES_FRESH = "ops:gauges"  # STRING: the live gauges were computed recently (nobody watching)
OPS_GAUGES_FRESH_TTL = 10

# billing: ride ids whose settle_ride message was published (billing.tasks.SettleRideTask); whichever settle_ride
# runs next pops up to BILLING_SETTLE_CHUNK of them and settles them with one commit. Only a shortcut: every ride
# still has its own message, so a lost or flushed list loses nothing.
BILLING_SETTLE_PENDING = "billing:settle:pending"  # LIST
BILLING_SETTLE_PENDING_TTL = 86_400  # refreshed on each push
