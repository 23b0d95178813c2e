/*
 * libFuzzer target: --passphrase's handshake and record parsers.  The
 * harness is pp_fuzz() in pp.c, which may look inside struct pp: a
 * listener fed a client's handshake bytes, a reader fed a record stream
 * after a good handshake, and records sealed from the input and then
 * flipped or cut in transit, which the reader must refuse without
 * handing out a byte that was not sent.
 */

#include <stdint.h>

#include "../netpipe.h"
#include "common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return pp_fuzz(data, size);
}
