#ifndef STARLING_COPUS_SHIM_H
#define STARLING_COPUS_SHIM_H
#include <opus/opus.h>

/* opus_encoder_ctl is variadic and its requests are macros: neither imports into Swift. */
static inline int starling_opus_set_bitrate(OpusEncoder *encoder, opus_int32 bitsPerSecond) {
    return opus_encoder_ctl(encoder, OPUS_SET_BITRATE(bitsPerSecond));
}

static inline int starling_opus_get_bitrate(OpusEncoder *encoder, opus_int32 *bitsPerSecond) {
    return opus_encoder_ctl(encoder, OPUS_GET_BITRATE(bitsPerSecond));
}
#endif
