# HMAC-SHA256 in C for the order path (rtaid/exec/hmac256.pyx): a key's inner and outer
# states are made once; a message's signature is then a few compressions, no allocation,
# no lock, no library call (OpenSSL's per-call digest lookup cost ~20-40 us after an idle
# wait on the bench machine, see the module).
from libc.stdint cimport uint8_t, uint32_t, int32_t

cdef struct HmacKey:
    uint32_t inner[8]        # SHA-256 state after the key XOR ipad block
    uint32_t outer[8]        # ... after the key XOR opad block

cdef void hmac_key_init(HmacKey* key, const uint8_t* secret, int32_t n) noexcept nogil
cdef void hmac_sha256(const HmacKey* key, const uint8_t* msg, int32_t n,
                      uint8_t* out) noexcept nogil
cdef void hmac_sha256_hex(const HmacKey* key, const uint8_t* msg, int32_t n,
                          char* out) noexcept nogil
