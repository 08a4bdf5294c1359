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

/* Function-like macros do not import into Swift; wrap the ones we need. */
static inline EVP_PKEY *starling_EVP_EC_gen_p256(void) { return EVP_EC_gen("P-256"); }
static inline long starling_BIO_set_mem_eof_return(BIO *b, long v) { return BIO_set_mem_eof_return(b, v); }
static inline long starling_DTLSv1_get_timeout(SSL *s, struct timeval *tv) { return DTLSv1_get_timeout(s, tv); }
static inline long starling_DTLSv1_handle_timeout(SSL *s) { return DTLSv1_handle_timeout(s); }
static inline long starling_SSL_set_mtu(SSL *s, long mtu) { return SSL_set_mtu(s, mtu); }
static inline long starling_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }
static inline long starling_BIO_pending(BIO *b) { return (long)BIO_ctrl_pending(b); }
#endif
