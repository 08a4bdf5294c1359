/*
 * Plain C baseline for SRTPSession, measured in the same benchmark run (TransportBenchmarks): libsrtp2
 * protect (+ unprotect) of a 1200-byte RTP packet, in place, for AES_CM_128_HMAC_SHA1_80 and
 * AEAD_AES_128_GCM, with the policy SRTPSession uses (ssrc_any_outbound / ssrc_any_inbound, replay window
 * 1024, allow_repeat_tx), and the same packet filling as the Swift benchmark.
 */
#include "srtp_baseline.h"
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PACKET_LENGTH 1200
#define SSRC 0x11223344u

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static srtp_t make_session(int gcm, srtp_ssrc_type_t type, unsigned char *key) {
    srtp_policy_t policy;
    memset(&policy, 0, sizeof(policy));
    if (gcm) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    } else {
        srtp_crypto_policy_set_rtp_default(&policy.rtp);
        srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
    }
    policy.ssrc.type = type;
    policy.key = key;
    policy.window_size = 1024;
    policy.allow_repeat_tx = 1;
    srtp_t session = NULL;
    if (srtp_create(&session, &policy) != srtp_err_status_ok) {
        fprintf(stderr, "srtp_create failed\n");
        exit(1);
    }
    return session;
}

static void fill_packet(uint8_t *p, const uint8_t *payload, uint32_t i) {
    p[0] = 0x80;
    p[1] = 96;
    p[2] = (uint8_t)(i >> 8);
    p[3] = (uint8_t)i;
    uint32_t ts = i * 3000u, ssrc = SSRC;
    for (int k = 0; k < 4; k++) {
        p[4 + k] = (uint8_t)(ts >> (24 - 8 * k));
        p[8 + k] = (uint8_t)(ssrc >> (24 - 8 * k));
    }
    memcpy(p + 12, payload, PACKET_LENGTH - 12);
}

struct srtp_baseline {
    srtp_t out, in;
    uint8_t payload[PACKET_LENGTH];
    _Alignas(16) uint8_t buffer[PACKET_LENGTH + 64];
    uint32_t next;
};

srtp_baseline_t *srtp_baseline_create(int gcm) {
    static int initialised = 0;
    if (!initialised) {
        if (srtp_init() != srtp_err_status_ok) { fprintf(stderr, "srtp_init failed\n"); exit(1); }
        initialised = 1;
    }
    unsigned char key[64];
    for (int i = 0; i < 64; i++) key[i] = (unsigned char)(i * 7 + 1);
    srtp_baseline_t *b = calloc(1, sizeof(*b));
    for (int i = 0; i < PACKET_LENGTH; i++) b->payload[i] = (uint8_t)(i * 13);
    b->out = make_session(gcm, ssrc_any_outbound, key);
    b->in = make_session(gcm, ssrc_any_inbound, key);
    return b;
}

long srtp_baseline_run(srtp_baseline_t *b, long iterations, int unprotect) {
    long bytes = 0;
    for (long i = 0; i < iterations; i++) {
        fill_packet(b->buffer, b->payload, b->next++);
        int len = PACKET_LENGTH;
        if (srtp_protect(b->out, b->buffer, &len) != srtp_err_status_ok) { fprintf(stderr, "protect failed\n"); exit(1); }
        if (unprotect && (srtp_unprotect(b->in, b->buffer, &len) != srtp_err_status_ok || len != PACKET_LENGTH)) {
            fprintf(stderr, "unprotect failed\n");
            exit(1);
        }
        bytes += len;
    }
    return bytes;
}

void srtp_baseline_destroy(srtp_baseline_t *b) {
    srtp_dealloc(b->out);
    srtp_dealloc(b->in);
    free(b);
}
