#!/usr/bin/env python3
"""A TCP relay in front of the conductor's port 930 that cuts the router's first onboarding
session at a known point without reading it: it counts the TLS records the router sends
(5-byte headers; TLS 1.3 sends its Finished, the WebSocket upgrade, the hello and the proof each
as an application_data record), relays the first three, and holds everything after them, so the
router has the challenge and its proof never reaches the conductor. It then writes HELD_FILE.
When the conductor side closes (the conductor is killed), it closes the router's side and
exits, so the router's retries meet a closed port. With "relay" it relays every connection
untouched. Usage: hold_proxy.py hold|relay LISTEN_PORT UPSTREAM_PORT [HELD_FILE]"""
import socket
import sys
import threading

from lab_net import close, relay

MODE, LISTEN, UPSTREAM = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
HELD = sys.argv[4] if MODE == "hold" else None
APPLICATION_DATA = 23
RELAYED_BEFORE_HOLD = 3


def relay_until_proof(router, conductor):
    """Relays whole records from the router until RELAYED_BEFORE_HOLD application_data ones
    went through, then holds the rest."""
    buf, seen = b"", 0
    try:
        while seen < RELAYED_BEFORE_HOLD:
            data = router.recv(65536)
            if not data:
                return
            buf += data
            while len(buf) >= 5 and len(buf) >= 5 + int.from_bytes(buf[3:5], "big") and seen < RELAYED_BEFORE_HOLD:
                size = 5 + int.from_bytes(buf[3:5], "big")
                conductor.sendall(buf[:size])
                seen += buf[0] == APPLICATION_DATA
                buf = buf[size:]
        while not buf:
            buf = router.recv(65536)
            if not buf:
                return
        with open(HELD, "w") as f:
            f.write(f"held {len(buf)} bytes after {seen} application_data records\n")
        while router.recv(65536):
            pass
    except OSError:
        pass


def main():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", LISTEN))
    server.listen(16)
    print(f"{MODE}: listening on {LISTEN}", flush=True)
    while True:
        router, _ = server.accept()
        try:
            conductor = socket.create_connection(("127.0.0.1", UPSTREAM))
        except OSError:
            close(router)
            continue
        if MODE == "hold":
            server.close()
            threading.Thread(target=relay_until_proof, args=(router, conductor), daemon=True).start()
            relay(conductor, router)  # returns once the conductor's side is gone
            return
        threading.Thread(target=relay, args=(router, conductor), daemon=True).start()
        threading.Thread(target=relay, args=(conductor, router), daemon=True).start()


main()
