#!/usr/bin/env python3
"""Malformed WebSocket traffic against the conductor's port 930, from a client that owes nothing
to sedge: each must be answered with the RFC 6455 close code (or dropped) and leave the
conductor serving. Usage: ws_attacks.py HOST PORT"""
import socket
import ssl
import struct
import sys

from lab_net import websocket_upgrade

HOST, PORT = sys.argv[1], int(sys.argv[2])
CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE  # the pin is not what is under test here


def session():
    s = CTX.wrap_socket(socket.create_connection((HOST, PORT), timeout=10))
    try:
        head = websocket_upgrade(s, HOST)
    except ConnectionResetError:
        raise SystemExit("FAIL: the conductor closed during the handshake") from None
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise SystemExit(f"FAIL: handshake not accepted: {head!r}")
    return s


def close_code(s):
    data = b""
    try:
        while len(data) < 4:
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, ssl.SSLError, socket.timeout):
        pass
    if len(data) >= 4 and data[0] == 0x88:
        return struct.unpack(">H", data[2:4])[0]
    return None


def expect(name, frame, code):
    s = session()
    s.sendall(frame)
    got = close_code(s)
    s.close()
    if got != code:
        raise SystemExit(f"FAIL: {name}: close code {got}, expected {code}")
    print(f"{name:34} closed with {got}")


mask = b"\x01\x02\x03\x04"
expect("oversized frame (1 MiB announced)", bytes([0x81, 0xFF]) + struct.pack(">Q", 1 << 20) + mask, 1009)
expect("unmasked client frame", bytes([0x81, 0x02]) + b"{}", 1002)
expect("reserved bits set", bytes([0xC1, 0x80]) + mask, 1002)
expect("non-minimal 64-bit length", bytes([0x81, 0xFF]) + struct.pack(">Q", 5) + mask + b"hello", 1002)
bad_utf8 = bytes(b ^ mask[i % 4] for i, b in enumerate(b"\xc3\x28"))
expect("text that is not UTF-8", bytes([0x81, 0x82]) + mask + bad_utf8, 1007)
not_json = bytes(b ^ mask[i % 4] for i, b in enumerate(b"[1]"))
expect("a message that is no JSON object", bytes([0x81, 0x83]) + mask + not_json, 1003)
# Truncated: half a frame, then the client goes away; the conductor must just drop it.
s = session()
s.sendall(bytes([0x81, 0x85]) + mask + b"ab")
s.close()
print("truncated frame                    dropped")
