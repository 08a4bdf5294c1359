#ifndef STARLING_CUSRSCTP_SHIM_H
#define STARLING_CUSRSCTP_SHIM_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <usrsctp.h>
#endif
