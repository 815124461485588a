#!/usr/bin/env python3
"""Known answers of docs/envelope.md §8 (envelope v2, signed), one per signature algorithm, computed from the
documents alone (docs/envelope.md and docs/device-keys.md).

Needs Python 3.8+ and the `cryptography` package, version 44 or later (pip install cryptography): AES-256-GCM,
Ed25519, and ECDSA P-256 with RFC 6979 deterministic nonces. tests/core/envelope-v2.test.ts pins the same
bytes on the TypeScript side.
"""
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# The inputs of the v1 example (§6), plus a signing key per algorithm.
master_key = bytes(range(32))                      # 000102...1f
device_id = b"sensor-001"
seq = 7
timestamp = 1700000000000
prev_hash = bytes([0xAB]) * 32
nonce = bytes(range(12))                           # a real device uses 12 random bytes
plaintext = b'{"t":1700000000000,"temp":21.5}'
ed25519_seed = bytes(range(0x20, 0x40))            # 202122...3f
p256_scalar = bytes(range(0x40, 0x60))             # 404142...5f, big-endian


def ed25519_key():
    sk = Ed25519PrivateKey.from_private_bytes(ed25519_seed)
    pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return 1, pk, lambda d: sk.sign(d)                           # RFC 8032, message = the 32 bytes of d


def p256_key():
    sk = ec.derive_private_key(int.from_bytes(p256_scalar, "big"), ec.SECP256R1())
    pk = sk.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)

    def sign(d):
        # ECDSA with SHA-256 over the message d (so e = SHA-256(d)), RFC 6979 nonce, then low-S.
        r, s = decode_dss_signature(sk.sign(d, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
        if s > P256_N // 2:
            s = P256_N - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return 2, pk, sign


def seal_v2(alg_code, public_key, sign):
    key_id = hashlib.sha256(bytes([alg_code]) + public_key).digest()
    info = b"iot-notary/v1 record-key" + timestamp.to_bytes(8, "big") + seq.to_bytes(8, "big")
    prk = hmac.new(device_id, master_key, hashlib.sha256).digest()
    record_key = hmac.new(prk, info + b"\x01", hashlib.sha256).digest()
    ct_len = len(plaintext) + 16
    aad = (b"IOTN" + bytes([2, 0, len(device_id)]) + device_id
           + seq.to_bytes(8, "big") + timestamp.to_bytes(8, "big") + prev_hash
           + bytes([alg_code]) + key_id
           + nonce + ct_len.to_bytes(4, "big"))
    ciphertext = AESGCM(record_key).encrypt(nonce, plaintext, aad)
    ct_hash = hashlib.sha256(ciphertext).digest()
    unsigned = aad + ct_hash
    d = hashlib.sha256(unsigned).digest()
    sig = sign(d)
    header = unsigned + sig
    return {
        "publicKey": public_key, "keyId": key_id, "aad": aad, "ctHash": ct_hash, "digest": d, "sig": sig,
        "header": header, "envelope": header + ciphertext,
        "recordHash": hashlib.sha256(b"\x00" + header).digest(),
    }


for name, key in (("ed25519", ed25519_key()), ("p256", p256_key())):
    out = seal_v2(*key)
    print(f"== {name}")
    for k in ("publicKey", "keyId", "ctHash", "digest", "sig", "header", "envelope", "recordHash"):
        print(f"{k:<11}", out[k].hex())
    print("sizes       header", len(out["header"]), "envelope", len(out["envelope"]))
