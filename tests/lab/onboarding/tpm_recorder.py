#!/usr/bin/env python3
"""A recording relay between a TPM client (its swtpm TCTI) and swtpm: what an interposer on the
TPM's bus sees. swtpm's TCTI speaks on two ports, the TPM commands on PORT and the platform's
control channel on PORT+1; both are relayed to UPSTREAM and UPSTREAM+1, and the command port's
traffic is written to RECORD, one line per TPM command or response, "C <hex>" or "R <hex>"
(framed by the size in their 10-byte headers). It writes READY_FILE once both ports listen.

  tpm_recorder.py serve LISTEN_PORT UPSTREAM_PORT RECORD READY_FILE
  tpm_recorder.py check RECORD SECRET_FILE seen|unseen [--salted-sessions N]

check: "seen" asserts the secret's bytes appear in some command or response, "unseen" that they
appear in none; --salted-sessions N also asserts that N or more TPM2_StartAuthSession commands
had a tpmKey (a salted session) with AES-128-CFB, that every TPM2_ActivateCredential response
was encrypted (a session with TPMA_SESSION_ENCRYPT in its command) and every TPM2_Create
command's inSensitive (TPMA_SESSION_DECRYPT)."""
import socket
import struct
import sys
import threading

from lab_net import close, relay

CC_START_AUTH_SESSION = 0x176
CC_ACTIVATE_CREDENTIAL = 0x147
CC_CREATE = 0x153
HANDLES = {CC_ACTIVATE_CREDENTIAL: 2, CC_CREATE: 1}  # handles before the authorisation area
TPM_RH_NULL = 0x40000007
TPM_ALG_AES, TPM_ALG_CFB = 0x0006, 0x0043
SESSION_DECRYPT, SESSION_ENCRYPT = 0x20, 0x40


def frames(sock, out, kind, lock):
    """Relays whole TPM messages from sock to out and records each."""
    buf = b""
    while True:
        while len(buf) < 10 or len(buf) < struct.unpack(">I", buf[2:6])[0]:
            data = sock.recv(65536)
            if not data:
                return
            buf += data
        size = struct.unpack(">I", buf[2:6])[0]
        message, buf = buf[:size], buf[size:]
        with lock:
            RECORD.write(f"{kind} {message.hex()}\n")
            RECORD.flush()
        out.sendall(message)


def relay_recorded(client, tpm):
    lock = threading.Lock()

    def run(src, dst, kind):
        try:
            frames(src, dst, kind, lock)
        except OSError:
            pass
        close(dst)
        close(src)

    threading.Thread(target=run, args=(client, tpm, "C"), daemon=True).start()
    threading.Thread(target=run, args=(tpm, client, "R"), daemon=True).start()


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


def accept_loop(server, upstream, recorded):
    while True:
        client, _ = server.accept()
        tpm = socket.create_connection(("127.0.0.1", upstream))
        if recorded:
            relay_recorded(client, tpm)
        else:
            threading.Thread(target=relay, args=(client, tpm), daemon=True).start()
            threading.Thread(target=relay, args=(tpm, client), daemon=True).start()


def serve(listen_port, upstream, record, ready):
    global RECORD
    RECORD = open(record, "a", encoding="ascii")
    command, control = listen(listen_port), listen(listen_port + 1)
    threading.Thread(target=accept_loop, args=(control, upstream + 1, False), daemon=True).start()
    with open(ready, "w", encoding="ascii") as f:
        f.write("ready\n")
    accept_loop(command, upstream, True)


def sessions(body, offset):
    """The attributes of each session in a command's authorisation area at offset."""
    size = struct.unpack(">I", body[offset:offset + 4])[0]
    area, out, i = body[offset + 4:offset + 4 + size], [], 0
    while i < len(area):
        handle = struct.unpack(">I", area[i:i + 4])[0]
        nonce = struct.unpack(">H", area[i + 4:i + 6])[0]
        attributes = area[i + 6 + nonce]
        hmac = struct.unpack(">H", area[i + 7 + nonce:i + 9 + nonce])[0]
        out.append((handle, attributes))
        i += 9 + nonce + hmac
    return out


def check(record, secret_file, want, salted):
    secret = open(secret_file, "rb").read().hex()
    lines = [line.split() for line in open(record, encoding="ascii")]
    seen = [kind for kind, message in lines if secret in message]
    if want == "seen" and not seen:
        sys.exit(f"the secret is in none of {len(lines)} recorded TPM messages")
    if want == "unseen" and seen:
        sys.exit(f"the secret is in clear in {len(seen)} recorded TPM message(s) ({', '.join(seen)})")
    print(f"{len(lines)} TPM messages recorded, the secret in clear in {len(seen)} of them")
    if salted is None:
        return
    commands = [bytes.fromhex(m) for kind, m in lines if kind == "C"]
    salted_sessions = 0
    for c in commands:
        tag, _, cc = struct.unpack(">HII", c[:10])
        if cc == CC_START_AUTH_SESSION:
            tpm_key = struct.unpack(">I", c[10:14])[0]
            at = 18 if tag == 0x8001 else 22 + struct.unpack(">I", c[18:22])[0]  # past any sessions
            nonce = struct.unpack(">H", c[at:at + 2])[0]
            at += 2 + nonce
            salt = struct.unpack(">H", c[at:at + 2])[0]
            at += 2 + salt + 1  # the encrypted salt, the session type
            alg = struct.unpack(">H", c[at:at + 2])[0]  # TPM_ALG_NULL has no key size or mode
            bits, mode = struct.unpack(">HH", c[at + 2:at + 6]) if alg == TPM_ALG_AES else (0, 0)
            if tpm_key != TPM_RH_NULL and salt > 0 and (alg, bits, mode) == (TPM_ALG_AES, 128, TPM_ALG_CFB):
                salted_sessions += 1
        elif cc in HANDLES:
            if tag != 0x8002:
                sys.exit(f"command 0x{cc:x} has no sessions")
            attributes = [a for _, a in sessions(c, 10 + 4 * HANDLES[cc])]
            need = SESSION_ENCRYPT if cc == CC_ACTIVATE_CREDENTIAL else SESSION_DECRYPT
            if not any(a & need for a in attributes):
                sys.exit(f"command 0x{cc:x} has no session with attribute 0x{need:02x}: {attributes}")
            print(f"command 0x{cc:x}: session attributes {[hex(a) for a in attributes]}")
    if salted_sessions < salted:
        sys.exit(f"{salted_sessions} salted AES-128-CFB sessions started, expected at least {salted}")
    print(f"{salted_sessions} salted AES-128-CFB sessions started")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        salted = int(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[5] == "--salted-sessions" else None
        check(sys.argv[2], sys.argv[3], sys.argv[4], salted)
