/* layers.h - force-included into every server/ layer (CMakeLists.txt): the
 * system headers of SQLite, libuv and libsodium are poisoned except in the
 * one layer that owns each, so including one elsewhere stops the build
 * instead of waiting for a reviewer. */
#ifndef NOORMME_LAYERS_H
#define NOORMME_LAYERS_H

#ifndef NOORMD_ALLOW_SQLITE
#pragma GCC poison sqlite3 sqlite3_stmt /* store/ only */
#endif
#ifndef NOORMD_ALLOW_UV
#pragma GCC poison uv_loop_t uv_loop_s /* net/ only */
#endif
#ifndef NOORMD_ALLOW_SODIUM
#pragma GCC poison sodium_init crypto_aead_xchacha20poly1305_ietf_encrypt /* crypto/ only */
#endif

#endif
