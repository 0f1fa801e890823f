"""Socket pieces shared by the onboarding lab's Python clients and relays (imported from the
scripts beside it): closing a socket whatever its state, relaying one direction, and the
conductor's WebSocket upgrade."""
import base64
import os
import socket


def close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def relay(src, dst):
    """Copies src to dst until src ends, then closes both."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    close(dst)
    close(src)


def websocket_upgrade(s, host):
    """Sends the onboarding WebSocket upgrade on s and returns the response's head; raises
    ConnectionResetError when the peer closes before the head is complete."""
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /sedge/onboard HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: sedge-onboarding.v1\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise ConnectionResetError("closed during the upgrade")
        head += chunk
    return head
