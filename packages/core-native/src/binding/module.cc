// SPDX-License-Identifier: MIT
//
// Node-API glue for the ringleader engine. Nothing here decides policy: it
// creates engine objects, wires each ring's eventfd into the calling thread's
// libuv loop, crosses into JS at most once per completion batch, and tears
// everything down on close(), on GC, and when the environment (main thread or
// worker_thread) goes away. One file per engine object; this one registers
// them and the free functions.
#include <cstddef>
#include <cstring>
#include <string>

#include "common.h"
#include "../engine/abi.h"
#include "../engine/acceptor.h"
#include "../engine/counters.h"
#include "../engine/js.h"
#include "../engine/net.h"
#include "../engine/proxy.h"
#include "../engine/sched.h"
#include "../engine/ring.h"
#include "../engine/worker.h"

#ifndef RL_LIBURING_VERSION
#define RL_LIBURING_VERSION "unknown"
#endif

namespace rl {

void InitAcceptor(Napi::Env env, Napi::Object exports);
void InitWorkerRing(Napi::Env env, Napi::Object exports);
void InitClientRing(Napi::Env env, Napi::Object exports);

Napi::Value SetErrorFactory(const Napi::CallbackInfo &info) {
  if (!info[0].IsFunction()) {
    ThrowType(info.Env(), "setErrorFactory(fn)");
    return info.Env().Undefined();
  }
  State(info.Env())->error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value Strerror(const Napi::CallbackInfo &info) {
  int e = info[0].As<Napi::Number>().Int32Value();
  return Napi::String::New(info.Env(), strerror(e < 0 ? -e : e));
}

Napi::Value Probe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  rl_probe_result p;
  rl_probe(&p);
  Napi::Object o = Napi::Object::New(env);
  o.Set("setupError", p.setup_error);
  o.Set("ioUringDisabled", p.io_uring_disabled);
  o.Set("features", p.features);
  o.Set("singleIssuer", p.single_issuer != 0);
  o.Set("deferTaskrun", p.defer_taskrun != 0);
  o.Set("coopTaskrun", p.coop_taskrun != 0);
  o.Set("submitAll", p.submit_all != 0);
  o.Set("bufRing", p.buf_ring != 0);
  o.Set("sparseFiles", p.sparse_files != 0);
  o.Set("msgRingFd", p.msg_ring_fd != 0);
  o.Set("msgRingFdError", p.msg_ring_fd_error);
  o.Set("sockCmdSetsockopt", p.sock_cmd_setsockopt != 0);
  o.Set("recvCap", p.recv_cap > 0);
  o.Set("recvCapError", p.recv_cap < 0 ? p.recv_cap : 0);
  Napi::Object ops = Napi::Object::New(env);
  for (unsigned i = 0; i < rl_required_ops_count; i++) {
    unsigned op = rl_required_ops[i];
    ops.Set(rl_op_name(op), op < 64 && p.ops[op] != 0);
  }
  o.Set("ops", ops);
  return o;
}

Napi::Array Names(Napi::Env env, std::initializer_list<const char *> names) {
  Napi::Array a = Napi::Array::New(env, names.size());
  uint32_t i = 0;
  for (const char *n : names) a.Set(i++, n);
  return a;
}

#define RL_NAME(n) #n,
Napi::Value Layout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("workerI32", Names(env, {RL_WORKER_I32(RL_NAME)}));
  o.Set("workerU64", Names(env, {RL_WORKER_U64(RL_NAME)}));
  o.Set("workerU64Size", (double)RL_W_U64_COUNT);
  o.Set("handoffHistOffset", (double)RL_W_U64_HIST);
  o.Set("handoffHistBuckets", (double)RL_HANDOFF_BUCKETS);
  o.Set("handoffHistSubBits", (double)RL_HANDOFF_SUB_BITS);
  o.Set("upstreamI32", Names(env, {RL_UPSTREAM_I32(RL_NAME)}));
  o.Set("upstreamU64", Names(env, {RL_UPSTREAM_U64(RL_NAME)}));
  o.Set("acceptorI32", Names(env, {RL_ACCEPTOR_I32(RL_NAME)}));
  o.Set("acceptorU64", Names(env, {RL_ACCEPTOR_U64(RL_NAME)}));
  return o;
}
#undef RL_NAME

// engine/abi.h, by name: record layouts, event types, modes, errno classes
// and values, limits
#define RL_KV(name, value) {#name, (double)(value)},
#define RL_KV_JS(c, js, value) {js, (double)(value)},
#define RL_KV_ERRNO(name) {#name, (double)-(name)},
#define RL_KV_FIELD(name) {#name, (double)(offsetof(rl_acc_event, name) / sizeof(int32_t))},
Napi::Object Abi(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("workerModes", Consts(env, {RL_WORKER_MODES(RL_KV_JS)}));
  o.Set("upstreamPolicies", Consts(env, {RL_UPSTREAM_POLICIES(RL_KV_JS)}));
  o.Set("clientModes", Consts(env, {RL_CLIENT_MODES(RL_KV_JS)}));
  o.Set("clientSockModes", Consts(env, {RL_CLIENT_SOCK_MODES(RL_KV_JS)}));
  o.Set("jsEvents", Consts(env, {RL_JS_EVENTS(RL_KV_JS)}));
  o.Set("jsFields", Consts(env, {RL_JS_FIELDS(RL_KV_JS)}));
  o.Set("jsWords", (double)RL_JS_EV_WORDS);
  o.Set("jsTypeBits", (double)RL_JS_TYPE_BITS);
  o.Set("acceptorEvents", Consts(env, {RL_ACC_EVENTS(RL_KV_JS)}));
  o.Set("acceptorFields", Consts(env, {RL_ACC_FIELDS(RL_KV_FIELD)}));
  o.Set("acceptorWords", (double)(sizeof(rl_acc_event) / sizeof(int32_t)));
  // Built from locals, never read back: in a worker thread terminated while
  // the addon loads, every property read fails, and node-addon-api then
  // works on an empty handle (no env) and aborts the whole process.
  Napi::Array full = Napi::Array::New(env), dead = Napi::Array::New(env), retry = Napi::Array::New(env),
              overflow = Napi::Array::New(env);
  uint32_t n_full = 0, n_dead = 0, n_retry = 0, n_overflow = 0;
#define RL_CLASS_PUSH(name, cls) cls.Set(n_##cls++, (double)-(name));
  RL_HANDOFF_ERRNOS(RL_CLASS_PUSH)
#undef RL_CLASS_PUSH
  Napi::Object classes = Napi::Object::New(env);
  classes.Set("full", full);
  classes.Set("dead", dead);
  classes.Set("retry", retry);
  classes.Set("overflow", overflow);
  o.Set("handoffErrors", classes);
  o.Set("errno", Consts(env, {RL_ABI_ERRNOS(RL_KV_ERRNO)}));
  o.Set("addressFamilies", Consts(env, {RL_ABI_FAMILIES(RL_KV)}));
  o.Set("limits", Consts(env, {RL_ABI_LIMITS(RL_KV)}));
  // the load generator's protocol errors: NAME -> { code, message }
  Napi::Object pe = Napi::Object::New(env);
#define RL_PE_SET(n, name, msg)              \
  {                                          \
    Napi::Object e = Napi::Object::New(env); \
    e.Set("code", (double)(n));              \
    e.Set("message", msg);                   \
    pe.Set(#name, e);                        \
  }
  RL_PROTO_ERRORS(RL_PE_SET)
#undef RL_PE_SET
  o.Set("protoErrors", pe);
  return o;
}
#undef RL_KV
#undef RL_KV_JS
#undef RL_KV_ERRNO
#undef RL_KV_FIELD

// sdNotify(path, state) -> 0 or -errno: one sd_notify datagram
Napi::Value SdNotify(const Napi::CallbackInfo &info) {
  if (!info[0].IsString() || !info[1].IsString()) {
    ThrowType(info.Env(), "sdNotify(path, state)");
    return info.Env().Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string state = info[1].As<Napi::String>().Utf8Value();
  return Napi::Number::New(info.Env(), rl_sd_notify(path.c_str(), state.c_str()));
}

// setThreadSlice(us): the calling thread's EEVDF slice (engine/sched.h); 0 or -errno
Napi::Value SetThreadSlice(const Napi::CallbackInfo &info) {
  if (!info[0].IsNumber()) {
    ThrowType(info.Env(), "setThreadSlice(us)");
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), rl_thread_set_slice(info[0].As<Napi::Number>().Uint32Value()));
}

// threadTid(): the calling thread's kernel id (engine/sched.h)
Napi::Value ThreadTid(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), rl_thread_tid()); }

// lower bounds of histogram buckets, so JS reads percentiles without
// repeating the bucket formula
Napi::Value HistLowerBounds(const Napi::CallbackInfo &info) {
  unsigned sub = info[0].As<Napi::Number>().Uint32Value();
  unsigned n = info[1].As<Napi::Number>().Uint32Value();
  Napi::Float64Array out = Napi::Float64Array::New(info.Env(), n + 1);
  for (unsigned i = 0; i <= n; i++) out[i] = (double)rl_hist_lower(i, sub);
  return out;
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new EnvState());
  InitAcceptor(env, exports);
  InitWorkerRing(env, exports);
  InitClientRing(env, exports);
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory));
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("strerror", Napi::Function::New(env, Strerror));
  exports.Set("histLowerBounds", Napi::Function::New(env, HistLowerBounds));
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify));
  exports.Set("setThreadSlice", Napi::Function::New(env, SetThreadSlice));
  exports.Set("threadTid", Napi::Function::New(env, ThreadTid));
  exports.Set("layout", Layout(env));
  exports.Set("abi", Abi(env));
  Napi::Object ver = Napi::Object::New(env);
  ver.Set("liburing", RL_LIBURING_VERSION);
  ver.Set("liburingHeader", std::to_string(RL_LIBURING_MAJOR) + "." + std::to_string(RL_LIBURING_MINOR));
  exports.Set("versions", ver);
  return exports;
}

}  // namespace rl

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return rl::InitModule(env, exports); }

NODE_API_MODULE(ringleader, Init)
