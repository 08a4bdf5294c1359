#ifndef STARLING_COPUS_SHIM_H
#define STARLING_COPUS_SHIM_H
#include <opus/opus.h>
#endif
