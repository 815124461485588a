#!/usr/bin/env python3
"""Known-answer example of docs/envelope.md, computed from the document alone.

Needs Python 3.8+ and the `cryptography` package (pip install cryptography) for AES-256-GCM.
Not run in CI. tests/core/envelope.test.ts pins the same bytes on the TypeScript side.
"""
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

master_key = bytes(range(32))                      # 000102...1f
device_id = b"sensor-001"
seq = 7
timestamp = 1700000000000                          # ms since the Unix epoch
prev_hash = bytes([0xAB]) * 32
nonce = bytes(range(12))                           # 000102...0b; a real device uses 12 random bytes
plaintext = b'{"t":1700000000000,"temp":21.5}'

# Per-record key: HKDF-SHA256 (RFC 5869), L = 32, so expand is a single HMAC block T(1).
info = b"iot-notary/v1 record-key" + timestamp.to_bytes(8, "big") + seq.to_bytes(8, "big")
prk = hmac.new(device_id, master_key, hashlib.sha256).digest()          # extract: salt = device id
record_key = hmac.new(prk, info + b"\x01", hashlib.sha256).digest()     # expand

# Header without ctHash = the AAD.
ct_len = len(plaintext) + 16
aad = (b"IOTN" + bytes([1, 0, len(device_id)]) + device_id
       + seq.to_bytes(8, "big") + timestamp.to_bytes(8, "big")
       + prev_hash + nonce + ct_len.to_bytes(4, "big"))
ciphertext = AESGCM(record_key).encrypt(nonce, plaintext, aad)           # body || 16-byte tag
ct_hash = hashlib.sha256(ciphertext).digest()
header = aad + ct_hash
envelope = header + ciphertext
record_hash = hashlib.sha256(b"\x00" + header).digest()

print("info       ", info.hex())
print("prk        ", prk.hex())
print("recordKey  ", record_key.hex())
print("aad        ", aad.hex())
print("ciphertext ", ciphertext[:-16].hex())
print("tag        ", ciphertext[-16:].hex())
print("ctHash     ", ct_hash.hex())
print("header     ", header.hex())
print("envelope   ", envelope.hex())
print("recordHash ", record_hash.hex())
print("sizes       header", len(header), "ciphertext", len(ciphertext), "envelope", len(envelope))
