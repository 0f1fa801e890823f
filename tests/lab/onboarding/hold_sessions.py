#!/usr/bin/env python3
"""Idle sessions against the conductor's port 930, from one source address: COUNT connections
opened one after another, each taken as far as the conductor lets it (TCP, the TLS 1.3
handshake, the WebSocket upgrade) and then left idle, never sending a hello. A connection the
conductor closes before the upgrade is answered counts as refused. Once every connection is
held or refused it writes "held H refused R" to READY_FILE and holds the held ones open until
killed; with CLOSED_FILE it instead waits for the conductor to close each held one and then
writes "closed H" there.

  hold_sessions.py HOST PORT SOURCE_ADDRESS COUNT READY_FILE [CLOSED_FILE]"""
import os
import select
import socket
import ssl
import sys
import time

from lab_net import websocket_upgrade

HOST, PORT, SOURCE, COUNT, READY = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
CLOSED = sys.argv[6] if len(sys.argv) > 6 else None
CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE  # the pin is not what is under test here


def hold():
    """One idle session: its TLS socket once upgraded, or None when the conductor refused it."""
    raw = socket.create_connection((HOST, PORT), timeout=30, source_address=(SOURCE, 0))
    try:
        s = CTX.wrap_socket(raw)
        head = websocket_upgrade(s, HOST)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise SystemExit(f"FAIL: the upgrade was answered {head!r}")
        s.settimeout(None)
        return s
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, ssl.SSLEOFError, OSError) as e:
        raw.close()
        print(f"refused: {type(e).__name__}: {e}", flush=True)
        return None


held = []
refused = 0
for _ in range(COUNT):
    s = hold()
    if s is None:
        refused += 1
    else:
        held.append(s)
with open(READY + ".tmp", "w", encoding="ascii") as f:
    f.write(f"held {len(held)} refused {refused}\n")
os.rename(READY + ".tmp", READY)
print(f"from {SOURCE}: held {len(held)} refused {refused}", flush=True)

if CLOSED is None:
    while True:
        time.sleep(3600)
start = time.monotonic()
open_ = list(held)
while open_:
    ready, _, _ = select.select(open_, [], [])
    for s in ready:
        try:
            data = s.recv(64)
        except (OSError, ssl.SSLError):
            data = b""
        if not data or data[:1] == b"\x88":  # closed, or a WebSocket close frame
            open_.remove(s)
with open(CLOSED, "w", encoding="ascii") as f:
    f.write(f"closed {len(held)} after {time.monotonic() - start:.1f} s\n")
