// SPDX-License-Identifier: MIT
// The `request` option of a ClientRing (request modes, engine/client_req.h):
// JS values -> an rl_req_spec whose pointers stay valid while this holder
// lives (the engine compiles and copies what it keeps).
#pragma once
#include <deque>
#include <string>
#include <vector>

#include "common.h"
#include "../engine/abi.h"
#include "../engine/client_req.h"

namespace rl {

struct RequestHolder {
  rl_req_spec spec = {};
  // deques: pointers to their elements stay valid as they grow
  std::deque<std::string> strings;
  std::deque<std::vector<uint8_t>> bytes;
  std::deque<std::vector<rl_http_hdr>> hdrs;
  std::vector<rl_http_req> http;
  std::deque<std::vector<const uint8_t *>> argv;
  std::deque<std::vector<size_t>> argl;
  std::vector<rl_req_cmd> cmds;
  std::vector<uint8_t> status_ok;
};

// Fills h from opts.request for client mode `mode`; false after throwing a
// TypeError that names the option.
bool ParseRequest(Napi::Env env, const Napi::Value &v, unsigned mode, RequestHolder &h);

}  // namespace rl
