#!/usr/bin/env python3
"""Known answers of docs/device-keys.md §7: key events (register, rotate, revoke) and a device head, computed
from the document alone.

Needs Python 3.8+ and the `cryptography` package, version 44 or later (pip install cryptography): Ed25519, and
ECDSA P-256 with RFC 6979 deterministic nonces. tests/core/key-event.test.ts and tests/core/device-head.test.ts
pin the same bytes on the TypeScript side.
"""
import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519, P256 = 1, 2

device_id = b"sensor-001"
ed_sk = Ed25519PrivateKey.from_private_bytes(bytes(range(0x20, 0x40)))
ed_pk = ed_sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
p_sk = ec.derive_private_key(int.from_bytes(bytes(range(0x40, 0x60)), "big"), ec.SECP256R1())
p_pk = p_sk.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def key_id(alg, pk):
    return hashlib.sha256(bytes([alg]) + pk).digest()


def sign_ed25519(d):
    return ed_sk.sign(d)


def sign_p256(d):
    r, s = decode_dss_signature(p_sk.sign(d, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    if s > P256_N // 2:                       # low-S: the only valid encoding
        s = P256_N - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def u64(n):
    return n.to_bytes(8, "big")


def event_prefix(event_type, time, alg, pk):
    return b"IOTK" + bytes([1, event_type, len(device_id)]) + device_id + u64(time) + bytes([alg]) + pk


# register (type 1): the operator registers the device's Ed25519 key; backend clock.
register = event_prefix(1, 1699999000000, ED25519, ed_pk)

# rotate (type 2): the device moves from its Ed25519 key to a P-256 key; device clock. Both keys sign
# d = SHA-256(everything before oldSig).
rotate_unsigned = event_prefix(2, 1700000500000, P256, p_pk) + key_id(ED25519, ed_pk)
rotate_digest = hashlib.sha256(rotate_unsigned).digest()
rotate = rotate_unsigned + sign_ed25519(rotate_digest) + sign_p256(rotate_digest)

# revoke (type 3): the operator revokes the P-256 key, reason 1 (compromised); backend clock.
revoke = event_prefix(3, 1700001000000, P256, p_pk) + bytes([1])

# head: 8 records sealed (seq 0..7), the last one being envelope.md §8's Ed25519 example; signed by the
# Ed25519 key over d = SHA-256(everything before sig).
last_hash = bytes.fromhex("dc37e88e080f44fbe5ecad2d7706ec576b895fa2ea5f7d71665c62f8dbb60198")
head_unsigned = (b"IOTH" + bytes([1, len(device_id)]) + device_id + u64(8) + last_hash + u64(1700000001000)
                 + bytes([ED25519]) + key_id(ED25519, ed_pk))
head_digest = hashlib.sha256(head_unsigned).digest()
head = head_unsigned + sign_ed25519(head_digest)

print("ed25519 keyId ", key_id(ED25519, ed_pk).hex())
print("p256 keyId    ", key_id(P256, p_pk).hex())
print("register      ", register.hex())
print("rotate digest ", rotate_digest.hex())
print("rotate        ", rotate.hex())
print("revoke        ", revoke.hex())
print("head digest   ", head_digest.hex())
print("head          ", head.hex())
for name, leaf in (("register", register), ("rotate", rotate), ("revoke", revoke), ("head", head)):
    print(f"leafHash {name:<9}", hashlib.sha256(b"\x00" + leaf).hexdigest(), f"({len(leaf)} bytes)")
