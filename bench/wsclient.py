"""A minimal WebSocket client on a raw asyncio Protocol, cheap enough that the load generator is not the bottleneck.

Only what the benchmark needs: the RFC 6455 client handshake, masked text frames out (a zero masking key, which
leaves the payload unchanged: the server unmasks, it cannot tell), unmasked text frames in, ping -> pong, close.
Each message received is handed to `on_message(protocol, payload_bytes)`.
"""

import asyncio
import base64
import os
import struct
from typing import Any

_HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
)
_ZERO_MASK = b"\x00\x00\x00\x00"


def text_frame(payload: bytes) -> bytes:
    """A final, masked (zero key) text frame."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, 0x80 | length)) + _ZERO_MASK + payload
    if length < 65536:
        return b"\x81\xfe" + struct.pack("!H", length) + _ZERO_MASK + payload
    return b"\x81\xff" + struct.pack("!Q", length) + _ZERO_MASK + payload


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    return bytes((0x80 | opcode, 0x80 | len(payload))) + _ZERO_MASK + payload


class WsProtocol(asyncio.Protocol):
    def __init__(self, *, host, port, path, token, on_message, tag=None):
        self.request = _HANDSHAKE.format(
            path=path, host=host, port=port, token=token, key=base64.b64encode(os.urandom(16)).decode()
        ).encode()
        self.on_message = on_message
        self.tag = tag
        self.transport: Any = None  # the asyncio transport, once connected
        self.buffer = bytearray()
        self.open = False
        self.opened = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.close_code = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        self.open = False
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost before handshake: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def data_received(self, data):
        self.buffer += data
        if not self.open:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            if b" 101 " not in status_line + b" ":
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(status_line.decode("latin-1")))
                self.transport.close()
                return
            self.open = True
            self.opened.set_result(True)
        self._frames()

    def _frames(self):
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = struct.unpack_from("!H", buffer, 2)[0]
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = struct.unpack_from("!Q", buffer, 2)[0]
                offset = 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            if opcode == 1 or opcode == 2:
                self.on_message(self, payload)
            elif opcode == 9:
                self.transport.write(control_frame(10, payload))
            elif opcode == 8:
                self.close_code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
                if self.open:
                    self.transport.write(control_frame(8, payload[:2]))
                self.open = False
                self.transport.close()
                return

    def send(self, payload: bytes):
        self.transport.write(text_frame(payload))

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            if self.open:
                self.transport.write(control_frame(8, struct.pack("!H", 1000)))
            self.transport.close()


async def connect(*, host, port, token, on_message, path="/ws/", tag=None, timeout=30):
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: WsProtocol(host=host, port=port, path=path, token=token, on_message=on_message, tag=tag), host, port
    )
    await asyncio.wait_for(protocol.opened, timeout)
    return protocol
