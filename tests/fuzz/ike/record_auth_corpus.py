#!/usr/bin/env python3
"""Seeds for ike_cert_auth_fuzz from real exchanges: the decrypted IKE_AUTH payloads (IDi/IDr,
CERT, CERTREQ, AUTH, ...) of lab scenarios run with LAB_IKE_CAPTURE=1, which keep ike.pcap and
sedge's ikev2_decryption_table in their log directories. tshark decrypts them (on the host: its
libgcrypt wants AVX); each IKE_AUTH message becomes one seed, OUT_DIR/<scenario>-<request|response>:
the type of its first inner payload, then the inner payload chain. When the scenario kept its
lab CA (ca.crt), a second seed, <scenario>-<role>-ca, has it appended as a CERT payload: the fuzz
target trusts the input's last certificate, so that seed's chain verifies and the ID and signature
checks are reached.

  record_auth_corpus.py OUT_DIR LOG_DIR...   (e.g. build/dev/lab-logs/ike_cert_sedge_to_libreswan_rsa)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

IKE_AUTH = "35"
CERT = 37


def pdml(log_dir):
    home = tempfile.mkdtemp()
    try:
        os.makedirs(os.path.join(home, ".config", "wireshark"))
        shutil.copy(os.path.join(log_dir, "ikev2_decryption_table"), os.path.join(home, ".config", "wireshark"))
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"))
        out = subprocess.run(["tshark", "-r", os.path.join(log_dir, "ike.pcap"), "-T", "pdml"], env=env,
                             capture_output=True, check=True).stdout
    finally:
        shutil.rmtree(home)
    return ET.fromstring(out)


def field(packet, name):
    return packet.find(f".//field[@name='{name}']")


def seed(packet):
    """(role, bytes) of an IKE_AUTH message tshark decrypted, else None."""
    exchange, contained = field(packet, "isakmp.exchangetype"), field(packet, "isakmp.enc.contained")
    if exchange is None or exchange.get("show") != IKE_AUTH or contained is None:
        return None
    payloads = [f for f in contained if f.get("name") == "isakmp.typepayload"]
    if not payloads:
        return None
    role = "response" if field(packet, "isakmp.flag_r").get("show") == "1" else "request"
    data = bytes([int(payloads[0].get("show"))]) + b"".join(bytes.fromhex(p.get("value")) for p in payloads)
    return role, data


def with_ca(data, ca_der):
    """The seed with a CERT payload (X.509 signature, encoding 4) holding the CA appended."""
    pos, nxt, last = 1, data[0], None
    while nxt != 0 and pos + 4 <= len(data):
        last, nxt = pos, data[pos]
        pos += int.from_bytes(data[pos + 2 : pos + 4], "big")
    if last is None:
        return None
    out = bytearray(data)
    out[last] = CERT
    body = bytes([4]) + ca_der
    return bytes(out) + bytes([0, 0]) + (4 + len(body)).to_bytes(2, "big") + body


def ca_der(log_dir):
    pem = os.path.join(log_dir, "ca.crt")
    if not os.path.exists(pem):
        return None
    return subprocess.run(["openssl", "x509", "-in", pem, "-outform", "DER"], capture_output=True, check=True).stdout


def record(out_dir, log_dir):
    name = os.path.basename(os.path.normpath(log_dir))
    ca = ca_der(log_dir)
    written = 0
    for packet in pdml(log_dir).iter("packet"):
        s = seed(packet)
        if s is None:
            continue
        seeds = {f"{name}-{s[0]}": s[1]}
        if ca is not None and with_ca(s[1], ca) is not None:
            seeds[f"{name}-{s[0]}-ca"] = with_ca(s[1], ca)
        for file, data in seeds.items():
            with open(os.path.join(out_dir, file), "wb") as f:
                f.write(data)
        written += 1
    print(f"{name}: {written} IKE_AUTH message(s)")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for log_dir in sys.argv[2:]:
        record(sys.argv[1], log_dir)


if __name__ == "__main__":
    main()
