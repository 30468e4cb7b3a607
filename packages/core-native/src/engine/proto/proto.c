/* SPDX-License-Identifier: MIT */
/* Names and messages of the protocol errors (the list is in proto.h), and
 * the character classes the HTTP code shares. */
#include "proto.h"

#define TD (RL_C_TCHAR | RL_C_DIGIT | RL_C_HEX | RL_C_VALUE)
#define TH (RL_C_TCHAR | RL_C_HEX | RL_C_VALUE)
#define TV (RL_C_TCHAR | RL_C_VALUE)
#define V RL_C_VALUE
const uint8_t rl_proto_ctype[256] = {
	['\t'] = V,         [' '] = V,          ['!'] = TV,          ['"'] = V,          ['#' ... '\''] = TV,
	['(' ... ')'] = V,  ['*' ... '+'] = TV, [','] = V,           ['-' ... '.'] = TV, ['/'] = V,
	['0' ... '9'] = TD, [':' ... '@'] = V,  ['A' ... 'F'] = TH,  ['G' ... 'Z'] = TV, ['[' ... ']'] = V,
	['^' ... '`'] = TV, ['a' ... 'f'] = TH, ['g' ... 'z'] = TV,  ['{'] = V,          ['|'] = TV,
	['}'] = V,          ['~'] = TV,         [0x80 ... 0xff] = V, /* obs-text */
};
#undef TD
#undef TH
#undef TV
#undef V

const char *rl_proto_err_name(int err)
{
	switch (err < 0 ? -err : err) {
#define RL_PE_NAME(n, name, msg) \
	case n:                  \
		return #name;
		RL_PROTO_ERRORS(RL_PE_NAME)
#undef RL_PE_NAME
	default:
		return NULL;
	}
}

const char *rl_proto_err_msg(int err)
{
	switch (err < 0 ? -err : err) {
#define RL_PE_MSG(n, name, msg) \
	case n:                 \
		return msg;
		RL_PROTO_ERRORS(RL_PE_MSG)
#undef RL_PE_MSG
	default:
		return NULL;
	}
}
