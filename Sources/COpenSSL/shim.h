#ifndef STARLING_COPENSSL_SHIM_H
#define STARLING_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <openssl/srtp.h>

/* Function-like macros do not import into Swift; wrap the ones we need. */
static inline EVP_PKEY *starling_EVP_EC_gen_p256(void) { return EVP_EC_gen("P-256"); }
static inline long starling_BIO_set_mem_eof_return(BIO *b, long v) { return BIO_set_mem_eof_return(b, v); }
static inline long starling_DTLSv1_get_timeout(SSL *s, struct timeval *tv) { return DTLSv1_get_timeout(s, tv); }
static inline long starling_DTLSv1_handle_timeout(SSL *s) { return DTLSv1_handle_timeout(s); }
static inline long starling_SSL_set_mtu(SSL *s, long mtu) { return SSL_set_mtu(s, mtu); }
static inline long starling_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }
static inline long starling_BIO_pending(BIO *b) { return (long)BIO_ctrl_pending(b); }

/* DTLS-SRTP endpoint (StarlingTransport/DTLS). */
static inline int starling_SSL_CTX_set_dtls12_only(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) == 1
        && SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) == 1;
}
static inline long starling_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return SSL_CTX_set1_groups_list(ctx, list); }
static inline long starling_SSL_CTX_set_session_cache_off(SSL_CTX *ctx) { return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); }
/* No MTU probing through the BIO (we set it), no tickets or renegotiation (WebRTC uses neither). */
static inline uint64_t starling_dtls_srtp_options(void) {
    return SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
}
static inline long starling_BIO_reset(BIO *b) { return BIO_reset(b); }
/* SSL_MODE_RELEASE_BUFFERS: after the handshake a DTLS-SRTP connection is idle (media goes through SRTP), so
   its read and write buffers (about 34 KiB) are freed until a record comes. */
static inline long starling_SSL_CTX_release_buffers(SSL_CTX *ctx) { return SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); }
static inline void *starling_SSL_get_app_data(const SSL *s) { return SSL_get_app_data(s); }
static inline int starling_SSL_set_app_data(SSL *s, void *arg) { return SSL_set_app_data(s, arg); }
#endif
