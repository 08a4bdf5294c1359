#ifndef SRTP_BASELINE_H
#define SRTP_BASELINE_H
/* A plain C loop over libsrtp2, the limit the Swift SRTPSession wrapper is measured against. */
typedef struct srtp_baseline srtp_baseline_t;
srtp_baseline_t *srtp_baseline_create(int gcm);
/* Fills, protects (and unprotects when `unprotect`) `iterations` 1200-byte packets; returns bytes written. */
long srtp_baseline_run(srtp_baseline_t *b, long iterations, int unprotect);
void srtp_baseline_destroy(srtp_baseline_t *b);
#endif
