"""The string hashes behind Keras' ``Hashing`` and ``HashedCrossing``, in plain Python.

Keras hashes with TensorFlow's string ops, which call three C++ functions:

- ``tf.strings.to_hash_bucket_fast(s, n)`` is ``fingerprint64(s) % n``: Google's FarmHash
  ``Fingerprint64`` (``farmhashna::Hash64``, github.com/google/farmhash, MIT licence).
- ``tf.strings.to_hash_bucket_strong(s, n, key)`` is ``siphash24(key, s) % n``: SipHash-2-4 with a
  128-bit key given as two unsigned 64-bit integers (highwayhash's ``SipHash``).
- ``tf.sparse.cross_hashed`` chains the per-column hashes with ``fingerprint_cat64`` (TensorFlow's
  ``platform/fingerprint.h``).

All arithmetic is on unsigned 64-bit integers: every product and sum is taken ``& MASK64``
(``mod 2**64``), which is what C++ ``uint64_t`` does silently. Bytes are read little-endian.
These are readable references (a few microseconds a string); layers hash each distinct value once.
"""

from __future__ import annotations

MASK64 = (1 << 64) - 1

# FarmHash's primes.
K0 = 0xC3A5C85C97CB3127
K1 = 0xB492B66FBE98F273
K2 = 0x9AE16A3B2F90404F
K_MUL = 0x9DDFEA08EB382D69  # Hash128to64's multiplier


def _fetch64(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 8], "little")


def _fetch32(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 4], "little")


def _rotate(v: int, shift: int) -> int:
    """Rotate the 64-bit ``v`` right by ``shift`` bits."""
    return v if shift == 0 else ((v >> shift) | (v << (64 - shift))) & MASK64


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def _hash_len16(u: int, v: int, mul: int = K_MUL) -> int:
    a = ((u ^ v) * mul) & MASK64
    a ^= a >> 47
    b = ((v ^ a) * mul) & MASK64
    b ^= b >> 47
    return (b * mul) & MASK64


def _hash_len0to16(s: bytes) -> int:
    n = len(s)
    if n >= 8:
        mul = K2 + n * 2
        a = (_fetch64(s, 0) + K2) & MASK64
        b = _fetch64(s, n - 8)
        c = (_rotate(b, 37) * mul + a) & MASK64
        d = ((_rotate(a, 25) + b) * mul) & MASK64
        return _hash_len16(c, d, mul)
    if n >= 4:
        mul = K2 + n * 2
        a = _fetch32(s, 0)
        return _hash_len16(n + (a << 3), _fetch32(s, n - 4), mul)
    if n > 0:
        a, b, c = s[0], s[n >> 1], s[n - 1]  # unsigned bytes
        y = a + (b << 8)
        z = n + (c << 2)
        return (_shift_mix((y * K2 ^ z * K0) & MASK64) * K2) & MASK64
    return K2


def _hash_len17to32(s: bytes) -> int:
    n = len(s)
    mul = K2 + n * 2
    a = (_fetch64(s, 0) * K1) & MASK64
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & MASK64
    d = (_fetch64(s, n - 16) * K2) & MASK64
    return _hash_len16((_rotate((a + b) & MASK64, 43) + _rotate(c, 30) + d) & MASK64,
                       (a + _rotate((b + K2) & MASK64, 18) + c) & MASK64, mul)


def _hash_len33to64(s: bytes) -> int:
    n = len(s)
    mul = K2 + n * 2
    a = (_fetch64(s, 0) * K2) & MASK64
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & MASK64
    d = (_fetch64(s, n - 16) * K2) & MASK64
    y = (_rotate((a + b) & MASK64, 43) + _rotate(c, 30) + d) & MASK64
    z = _hash_len16(y, (a + _rotate((b + K2) & MASK64, 18) + c) & MASK64, mul)
    e = (_fetch64(s, 16) * mul) & MASK64
    f = _fetch64(s, 24)
    g = ((y + _fetch64(s, n - 32)) * mul) & MASK64
    h = ((z + _fetch64(s, n - 24)) * mul) & MASK64
    return _hash_len16((_rotate((e + f) & MASK64, 43) + _rotate(g, 30) + h) & MASK64,
                       (e + _rotate((f + a) & MASK64, 18) + g) & MASK64, mul)


def _weak_hash_len32_with_seeds(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    w, x, y, z = (_fetch64(s, i + k) for k in (0, 8, 16, 24))
    a = (a + w) & MASK64
    b = _rotate((b + a + z) & MASK64, 21)
    c = a
    a = (a + x + y) & MASK64
    b = (b + _rotate(a, 44)) & MASK64
    return (a + z) & MASK64, (b + c) & MASK64


def fingerprint64(s: bytes) -> int:
    """FarmHash ``Fingerprint64`` of ``s``: an unsigned 64-bit integer, the same on every platform.

    Strings up to 64 bytes take one of three short formulas; longer ones are mixed 64 bytes at a
    time through a 56-byte state (``x, y, z, v, w``), then the last 64 bytes once more.
    """
    n = len(s)
    if n <= 16:
        return _hash_len0to16(s)
    if n <= 32:
        return _hash_len17to32(s)
    if n <= 64:
        return _hash_len33to64(s)
    seed = 81
    x = seed
    y = (seed * K1 + 113) & MASK64
    z = (_shift_mix((y * K2 + 113) & MASK64) * K2) & MASK64
    v = (0, 0)
    w = (0, 0)
    x = (x * K2 + _fetch64(s, 0)) & MASK64
    end = ((n - 1) // 64) * 64  # start of the last full 64-byte block
    last64 = end + ((n - 1) & 63) - 63  # the final 64 bytes, overlapping the previous block
    i = 0
    while True:
        x = (_rotate((x + y + v[0] + _fetch64(s, i + 8)) & MASK64, 37) * K1) & MASK64
        y = (_rotate((y + v[1] + _fetch64(s, i + 48)) & MASK64, 42) * K1) & MASK64
        x ^= w[1]
        y = (y + v[0] + _fetch64(s, i + 40)) & MASK64
        z = (_rotate((z + w[0]) & MASK64, 33) * K1) & MASK64
        v = _weak_hash_len32_with_seeds(s, i, (v[1] * K1) & MASK64, (x + w[0]) & MASK64)
        w = _weak_hash_len32_with_seeds(s, i + 32, (z + w[1]) & MASK64,
                                        (y + _fetch64(s, i + 16)) & MASK64)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = K1 + ((z & 0xFF) << 1)
    i = last64
    w0 = (w[0] + ((n - 1) & 63)) & MASK64
    v0 = (v[0] + w0) & MASK64
    w0 = (w0 + v0) & MASK64
    v, w = (v0, v[1]), (w0, w[1])
    x = (_rotate((x + y + v[0] + _fetch64(s, i + 8)) & MASK64, 37) * mul) & MASK64
    y = (_rotate((y + v[1] + _fetch64(s, i + 48)) & MASK64, 42) * mul) & MASK64
    x ^= (w[1] * 9) & MASK64
    y = (y + v[0] * 9 + _fetch64(s, i + 40)) & MASK64
    z = (_rotate((z + w[0]) & MASK64, 33) * mul) & MASK64
    v = _weak_hash_len32_with_seeds(s, i, (v[1] * mul) & MASK64, (x + w[0]) & MASK64)
    w = _weak_hash_len32_with_seeds(s, i + 32, (z + w[1]) & MASK64,
                                    (y + _fetch64(s, i + 16)) & MASK64)
    z, x = x, z
    return _hash_len16((_hash_len16(v[0], w[0], mul) + _shift_mix(y) * K0 + z) & MASK64,
                       (_hash_len16(v[1], w[1], mul) + x) & MASK64, mul)


def _sip_round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & MASK64
    v1 = _rotate(v1, 64 - 13) ^ v0  # rotate left 13
    v0 = _rotate(v0, 64 - 32)
    v2 = (v2 + v3) & MASK64
    v3 = _rotate(v3, 64 - 16) ^ v2
    v0 = (v0 + v3) & MASK64
    v3 = _rotate(v3, 64 - 21) ^ v0
    v2 = (v2 + v1) & MASK64
    v1 = _rotate(v1, 64 - 17) ^ v2
    v2 = _rotate(v2, 64 - 32)
    return v0, v1, v2, v3


def siphash24(key: tuple[int, int], s: bytes) -> int:
    """SipHash-2-4 of ``s`` under the 128-bit ``key = (k0, k1)``: 2 rounds per 8-byte word,
    4 final rounds. The last word holds the leftover bytes and ``len(s) % 256`` in its top byte."""
    k0, k1 = (int(k) & MASK64 for k in key)
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    n = len(s)
    full = n - n % 8
    words = [_fetch64(s, i) for i in range(0, full, 8)]
    words.append(int.from_bytes(s[full:], "little") | ((n & 0xFF) << 56))
    for m in words:
        v3 ^= m
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0 ^= m
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def fingerprint_cat64(fp1: int, fp2: int) -> int:
    """TensorFlow's ``FingerprintCat64``: combine two 64-bit fingerprints (order matters)."""
    k_mul = 0xC6A4A7935BD1E995
    result = fp1 ^ k_mul
    result ^= (_shift_mix((fp2 * k_mul) & MASK64) * k_mul) & MASK64
    result = (result * k_mul) & MASK64
    result = (_shift_mix(result) * k_mul) & MASK64
    return _shift_mix(result)
