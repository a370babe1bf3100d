/*
 * fuzz_sign.c: libFuzzer harness for signature formatting (src/common/sign.c).
 * The input gives a key length, a message id and a body; the signature is
 * always "v1," and 44 base64 characters, NUL-ended, and is the same when
 * computed twice.
 */
#include "postgres.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/sign.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char key[WH_SECRET_MAX_BYTES];
	char		sig[WH_SIGNATURE_LEN + 1];
	char		sig2[WH_SIGNATURE_LEN + 1];
	char		msg_id[64];
	int			keylen;
	size_t		idlen;
	int64		ts;
	int			i;

	if (size < 3)
		return 0;
	keylen = WH_SECRET_MIN_BYTES + data[0] % (WH_SECRET_MAX_BYTES - WH_SECRET_MIN_BYTES + 1);
	idlen = data[1] % sizeof(msg_id);
	ts = (int64) data[2] << 24;
	data += 3;
	size -= 3;
	memset(key, 0x5a, sizeof(key));
	memcpy(key, data, Min((size_t) keylen, size));
	idlen = Min(idlen, size);
	memcpy(msg_id, data, idlen);
	msg_id[idlen] = '\0';
	data += idlen;
	size -= idlen;

	memset(sig, 'Z', sizeof(sig));
	if (!wh_sign(key, keylen, msg_id, ts, (const char *) data, size, sig))
		abort();
	if (strncmp(sig, "v1,", 3) != 0 || sig[WH_SIGNATURE_LEN] != '\0' ||
		strlen(sig) != WH_SIGNATURE_LEN || sig[WH_SIGNATURE_LEN - 1] != '=')
		abort();
	for (i = 3; i < WH_SIGNATURE_LEN - 1; i++)
		if (!(isalnum((unsigned char) sig[i]) || sig[i] == '+' || sig[i] == '/'))
			abort();
	if (!wh_sign(key, keylen, msg_id, ts, (const char *) data, size, sig2) ||
		strcmp(sig, sig2) != 0)
		abort();
	return 0;
}
