#ifndef STARLING_CSRTP_SHIM_H
#define STARLING_CSRTP_SHIM_H
#include <srtp2/srtp.h>
#endif
