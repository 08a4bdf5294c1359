/*
 * Plain C baseline for SRTPSession: libsrtp2 protect + unprotect of a 1200-byte RTP packet, in place,
 * for AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM, with the policy SRTPSession uses
 * (ssrc_any_outbound / ssrc_any_inbound, replay window 1024, allow_repeat_tx).
 *
 * Build and run:  gcc -O2 -o /tmp/srtp_baseline Benchmarks/CBaseline/srtp_baseline.c -lsrtp2 && /tmp/srtp_baseline [iterations]
 *
 * Prints ns per packet for protect alone and for protect + unprotect (unprotect = the difference).
 */
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

static void run(int gcm, long iterations) {
    unsigned char key[64];
    for (int i = 0; i < 64; i++) key[i] = (unsigned char)(i * 7 + 1);
    uint8_t payload[PACKET_LENGTH];
    for (int i = 0; i < PACKET_LENGTH; i++) payload[i] = (uint8_t)(i * 13);
    _Alignas(16) uint8_t buffer[PACKET_LENGTH + 64];

    /* Protect only. */
    srtp_t out = make_session(gcm, ssrc_any_outbound, key);
    double start = now_ns();
    for (long i = 0; i < iterations; i++) {
        fill_packet(buffer, payload, (uint32_t)i);
        int len = PACKET_LENGTH;
        if (srtp_protect(out, buffer, &len) != srtp_err_status_ok) { fprintf(stderr, "protect failed\n"); exit(1); }
    }
    double protect_ns = (now_ns() - start) / (double)iterations;
    srtp_dealloc(out);

    /* Protect + unprotect. */
    out = make_session(gcm, ssrc_any_outbound, key);
    srtp_t in = make_session(gcm, ssrc_any_inbound, key);
    start = now_ns();
    for (long i = 0; i < iterations; i++) {
        fill_packet(buffer, payload, (uint32_t)i);
        int len = PACKET_LENGTH;
        if (srtp_protect(out, buffer, &len) != srtp_err_status_ok) { fprintf(stderr, "protect failed\n"); exit(1); }
        if (srtp_unprotect(in, buffer, &len) != srtp_err_status_ok || len != PACKET_LENGTH) {
            fprintf(stderr, "unprotect failed at %ld\n", i);
            exit(1);
        }
    }
    double both_ns = (now_ns() - start) / (double)iterations;
    srtp_dealloc(out);
    srtp_dealloc(in);

    printf("%-24s protect %7.0f ns/packet  unprotect %7.0f ns/packet  both %7.0f ns/packet  (%ld packets of %d bytes)\n",
           gcm ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80", protect_ns, both_ns - protect_ns, both_ns, iterations,
           PACKET_LENGTH);
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    if (iterations <= 0) iterations = 200000;
    if (srtp_init() != srtp_err_status_ok) { fprintf(stderr, "srtp_init failed\n"); return 1; }
    printf("libsrtp %s\n", srtp_get_version_string());
    run(1, iterations);
    run(0, iterations);
    return 0;
}
