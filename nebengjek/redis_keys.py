"""Every Redis key the project uses, with its TTL. Redis holds only what is live and can be rebuilt."""

# accounts: OTP send counters (fixed windows)
OTP_SENDS_WINDOW = "otp:sends:win:{msisdn}"  # TTL settings.OTP_SEND_WINDOW_SECONDS
OTP_SENDS_DAY = "otp:sends:day:{msisdn}"  # TTL 24 h
OTP_SENDS_IP = "otp:sends:ip:{ip}"  # TTL 1 h
OTP_SENDS_DAY_TTL = 24 * 3600
OTP_SENDS_IP_TTL = 3600


# rides: accepted driver positions during a ride, written by locations, consumed by the rides meter (a consumer
# group, so each entry is applied once; entries are deleted once applied and acked). No TTL; capped by MAXLEN.
RIDE_TRACK_STREAM = "rides:track"
RIDE_TRACK_GROUP = "rides-meter"
RIDE_TRACK_STREAM_MAXLEN = 1_000_000  # approximate cap if the meter stops consuming: ~100 MB worst case


def key(template, **parts):
    return template.format(**parts)
