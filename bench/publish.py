"""A push publisher process for scenario 5: reads {"user_ids", "rounds"} on stdin, sends `rounds` realtime events to
each user's group through the configured channel layer (round r carries seq r), prints how many it sent."""
import asyncio
import sys

import django
import orjson


async def publish(user_ids, rounds):
    from channels.layers import get_channel_layer

    from nebengjek.realtime import user_group

    import time

    layer = get_channel_layer()
    await layer.group_send(user_group(user_ids[0]), {"type": "realtime.event", "event": {"type": "bench.warm"}})
    print(time.time(), flush=True)  # publishing starts now
    sent = 0
    for seq in range(1, rounds + 1):
        for start in range(0, len(user_ids), 200):
            chunk = user_ids[start:start + 200]
            await asyncio.gather(*(layer.group_send(user_group(user_id), {
                "type": "realtime.event", "event": {"type": "bench.push", "seq": seq}}) for user_id in chunk))
            sent += len(chunk)
    return sent


def main():
    config = orjson.loads(sys.stdin.readline())
    django.setup()
    print(asyncio.run(publish(config["user_ids"], config["rounds"])), flush=True)


if __name__ == "__main__":
    main()
