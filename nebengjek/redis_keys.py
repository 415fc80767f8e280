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


# rides: each ride's accepted driver positions, written by locations' ingest script, applied to the track and then
# deleted by the rides meter (rides.meter). STREAM entries {lat, lng, t}: decimal degrees and the position's time in
# epoch seconds (float), as strings. On the live-state Redis, in the slot of the DRIVER's bucket ({live:<bucket>}, see
# below: the ingest script writes it with the driver's state). No TTL: the meter deletes what it applied and the key
# once empty; capped by MAXLEN.
RIDE_TRACK_STREAM = "rides:track:{{live:{bucket}}}:{ride_id}"
RIDE_TRACK_STREAM_MAXLEN = 50_000  # approximate cap per ride if the meter stops: ~14 h of one position a second
# SET per bucket of ride ids whose stream holds entries not applied yet: added to with each entry (same script), a
# ride removed by the meter, atomically, when its stream is empty; the meter walks every bucket's set. No TTL.
RIDE_TRACK_PENDING = "rides:track:pending:{{live:{bucket}}}"

# rides: the live trip (rides.live_trip). HASH per bucket driver id -> "ride id,passenger id,pickup lat,pickup
# lng,started 0|1" from the passenger's confirm until the ride ends: the ingest script keeps such a driver's accepted
# positions in the ride's RIDE_LIVE hash and says when a push to the passenger is due. No TTL; set and cleared after
# the commits of rides.services (confirm, start, end, cancel), re-derived from the database by the live sweeper.
DRIVERS_WATCHED = "drivers:watched:{{live:{bucket}}}"
# HASH lat, lng, t, heading, speed (the driver's latest accepted position on the ride), pushed (time of the last
# push), arrived (time the driver came within the arrival radius of the pickup). In the driver's bucket's slot.
RIDE_LIVE = "rides:live:{{live:{bucket}}}:{ride_id}"
RIDE_LIVE_TTL = 3600  # refreshed on each position; a ride's live hash outlives its end by at most this
# STRING counter of chat messages one user sent in one ride in the current minute (rides.chat), on the rate
# counters' Redis (RATE_REDIS_URL). TTL 60 s.
RIDE_CHAT_RATE = "rides:chat:rate:{ride_id}:{user_id}"
RIDE_CHAT_RATE_TTL = 60
# STRING counter of one client address's requests to the public shared-trip page and its JSON in the current minute
# (rides.share_apis), on the rate counters' Redis. TTL 60 s.
RIDE_SHARE_RATE = "rides:share:rate:{ip}"
RIDE_SHARE_RATE_TTL = 60

# locations: the live state of users and drivers (settings.LIVE_REDIS_URL; a Redis Cluster with LIVE_REDIS_CLUSTER).
# All of it is rebuilt from the next beacons/positions and, for the beacon/busy/tracking sets, from the database by
# the sweeper (locations.tasks.live_sweep) after a flush. Two kinds of hash slot: the users' and drivers' state, split
# into buckets (hash tag {live:<bucket>}, bucket = CRC32 of the user id mod locations.live.live_buckets(): 1 on one
# Redis, settings.LIVE_STATE_BUCKETS on a cluster; every script about one driver touches that driver's bucket alone),
# and the regions of the GEO index (hash tag {<H3 cell>}: each region's drivers). A cluster spreads both over its
# masters. Every key below with {bucket} is one key per bucket; locations.live.BucketKeys names them.
# HASH lat, lng, t (epoch s, float), c (its H3 region): latest accepted position of a user
USER_LAST_POSITION = "loc:last:{{live:{bucket}}}:{user_id}"
USER_LAST_POSITION_TTL = 3600  # refreshed on each accepted position
# Per region (H3 cell, locations.regions): GEO of the available drivers (beacon on, not busy) indexed there at
# their latest accepted position, and HASH driver id -> "lat,lng,t" of the same drivers, so that a nearby search
# is one GEOSEARCH + HMGET per region it touches; stale ones swept. Busy drivers leave it and rejoin when freed
# (locations.live.DRIVER_STATE_LUA). No TTL.
REGION_GEO = "drivers:geo:{{{cell}}}"
REGION_POSITION = "drivers:pos:{{{cell}}}"
# HASH available driver id -> the region whose index holds them (the one truth: a copy of the driver in another
# region's index is a ghost, removed by the step that moved them or else by the sweeper); no TTL
DRIVERS_REGION = "drivers:region:{{live:{bucket}}}"
# SET: regions newly indexed by this bucket's drivers; the sweeper moves them into DRIVERS_REGIONS_ALL. No TTL.
DRIVERS_REGIONS = "drivers:regions:{{live:{bucket}}}"
# SET: every region ever indexed (the sweeper's ghost scan walks it a slice per run, LIVE_SWEEP_CURSOR); no TTL
DRIVERS_REGIONS_ALL = "drivers:regions:all"
# STRING: the SSCAN cursor of the sweeper's ghost scan over DRIVERS_REGIONS_ALL ('0' or missing: a new pass). No TTL.
LIVE_SWEEP_CURSOR = "live:sweep:regions:cursor"
# ZSET beacon-on driver id (busy too) -> t of that position (the sweeper reads it)
DRIVERS_SEEN = "drivers:seen:{{live:{bucket}}}"
DRIVERS_POSITION = "drivers:pos:{{live:{bucket}}}"  # HASH beacon-on driver id (busy too) -> "lat,lng,t"; no TTL
DRIVERS_BEACON = "drivers:beacon:{{live:{bucket}}}"  # SET: drivers whose beacon is on (mirror of DriverPresence)
DRIVERS_BUSY = "drivers:busy:{{live:{bucket}}}"  # SET: drivers held by a live match/ride (mirror of Match.holds_driver)
# HASH driver id -> vehicle type (mirror of accounts.DriverProfile.vehicle_type, written on beacon on and on a
# profile change, re-derived for beacon-on drivers by the live sweeper): the search's product filter. No TTL.
DRIVERS_VEHICLE = "drivers:vehicle:{{live:{bucket}}}"
# HASH driver id -> ride id: while present, the driver's accepted positions are appended to that ride's
# RIDE_TRACK_STREAM (same script, before the ack). No TTL; set under the ride's row lock by rides.services
# (start, end, cancel) through locations.services, and re-derived from the database by the live sweeper.
DRIVERS_TRACKING = "drivers:tracking:{{live:{bucket}}}"
# STRING per bucket set once the live state was rebuilt from the database; missing = Redis lost that bucket's state
# (flushed, restarted empty, a master failed over to an empty replica): the ingest script then asks for a rebuild
# before judging a position that has no previous one. No TTL.
LIVE_STATE_MARKER = "live:rebuilt:{{live:{bucket}}}"
# SET: ids of suspended users (mirror of User.is_active=False, kept by accounts.services and repaired by the live
# sweeper): the fast nearby path (gateway.nearby) refuses them without a database query. No TTL.
USERS_SUSPENDED = "users:suspended"


def key(template: str, **parts: object) -> str:
    return template.format(**parts)


# matching: each driver's last offer outcomes for the ranking (matching.offer_stats), LIST newest first of "a" / "n" /
# "b" and a "-" sentinel; rebuilt from the matches when missing; TTL refreshed on rebuild.
DRIVER_OFFERS = "rank:offers:{driver_id}"
DRIVER_OFFERS_TTL = 7 * 86_400

# ops: the operations page's broadcaster (gateway.ops.services)
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

# matching: batched dispatch (MATCHING_MODE=batched, matching/windows.py). SET of the request ids waiting for the
# next assignment window of one H3 cell (settings.MATCHING_BATCH_H3_RESOLUTION); drained by that window's task.
# TTL refreshed on each add: a set whose task was lost is dropped; the sweeper re-enqueues its searching requests.
MATCHING_WINDOW = "matching:window:{cell}"
MATCHING_WINDOW_TTL = 300
# STRING set (NX) by the request that opens a cell's window and schedules its task; deleted by that task when it
# starts. TTL the window plus MATCHING_WINDOW_OPEN_GRACE_MS: a lost task lets the next request open a new window.
MATCHING_WINDOW_OPEN = "matching:window:open:{cell}"
MATCHING_WINDOW_OPEN_GRACE_MS = 5000
