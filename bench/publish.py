"""A push publisher process for scenario 5: reads {"user_ids", "rounds"} on stdin, sends `rounds` realtime events to
each user's group, prints how many it sent.

It publishes the way the product does after a commit (`nebengjek.realtime.push_messages`: pipelined PUBLISH to the
pub/sub layer's group channels, CHUNK messages a round trip), so the publishers are not what limits the measured
delivery rate; round r carries seq r."""

import sys
import time

import django
import orjson

CHUNK = 500


def publish(user_ids, rounds):
    from nebengjek.realtime import push_messages, user_group

    push_messages([(user_group(user_ids[0]), {"type": "realtime.event", "event": {"type": "bench.warm"}})])
    print(time.time(), flush=True)  # publishing starts now
    sent = 0
    for seq in range(1, rounds + 1):
        for start in range(0, len(user_ids), CHUNK):
            chunk = user_ids[start : start + CHUNK]
            push_messages(
                [
                    (user_group(user_id), {"type": "realtime.event", "event": {"type": "bench.push", "seq": seq}})
                    for user_id in chunk
                ]
            )
            sent += len(chunk)
    return sent


def main():
    config = orjson.loads(sys.stdin.readline())
    django.setup()
    print(publish(config["user_ids"], config["rounds"]), flush=True)


if __name__ == "__main__":
    main()
