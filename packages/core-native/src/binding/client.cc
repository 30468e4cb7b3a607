// SPDX-License-Identifier: MIT
// ClientRing: the load generator's ring (engine/client.c), created on and
// driven by the calling thread. Counters go to JS through a shared block;
// JS is called once, when the run is over.
#include <vector>

#include "client_req.h"
#include "common.h"
#include "../engine/client.h"
#include "../engine/net.h"

namespace rl {

struct ClientCore : Core {
  rl_client cl;
  bool inited = false;
  bool done_sent = false;
  int run_err = 0;
  Napi::ObjectReference keep_i32, keep_u64;
};

static bool ParseAddrs(const Napi::Value &v, bool with_port, std::vector<rl_addr> &out) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    std::string ip;
    int port = 0;
    if (with_port) {
      if (!e.IsObject()) return false;
      Napi::Object o = e.As<Napi::Object>();
      if (!o.Get("ip").IsString() || !o.Get("port").IsNumber()) return false;
      ip = o.Get("ip").As<Napi::String>().Utf8Value();
      port = o.Get("port").As<Napi::Number>().Int32Value();
    } else {
      if (!e.IsString()) return false;
      ip = e.As<Napi::String>().Utf8Value();
    }
    rl_addr addr;
    if (rl_addr_parse(&addr, ip.c_str(), port) < 0) return false;
    out.push_back(addr);
  }
  return true;
}

static uint64_t ArgU64(const Napi::Value &v) {
  bool lossless;
  if (v.IsBigInt()) return v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (v.IsNumber()) return (uint64_t)v.As<Napi::Number>().DoubleValue();
  return 0;
}

class ClientRing : public RingWrap<ClientRing, ClientCore> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineRing(env, "ClientRing",
                      {
                          InstanceMethod("start", &ClientRing::Start),
                          InstanceMethod("stop", &ClientRing::Stop),
                          InstanceMethod("serve", &ClientRing::Serve),
                          InstanceMethod("mismatches", &ClientRing::Mismatches),
                          InstanceAccessor("state", &ClientRing::State_, nullptr),
                      });
  }

  // new ClientRing(opts, i32, u64, onDone(errno))
  ClientRing(const Napi::CallbackInfo &info) : RingWrap(info) {
    Napi::Env env = info.Env();
    if (!CtorArgs(info, true, "ClientRing(opts, i32, u64, onDone)")) return;
    Napi::Object o = info[0].As<Napi::Object>();
    std::vector<rl_addr> targets, sources;
    if (!ParseAddrs(o.Get("targets"), true, targets) || targets.empty()) {
      ThrowType(env, "ClientRing option \"targets\" must be a non-empty array of { ip, port } with numeric addresses");
      return;
    }
    if (!ParseAddrs(o.Get("sources"), false, sources)) {
      ThrowType(env, "ClientRing option \"sources\" must be an array of numeric addresses");
      return;
    }
    Options opts(env, o, "ClientRing");
    rl_client_opts co = {};
    co.mode = opts.U("mode");
    co.nconns = opts.U("connections");
    co.id_base = opts.U("idBase");
    co.targets = targets.data();
    co.ntargets = (unsigned)targets.size();
    co.sources = sources.data();
    co.nsources = (unsigned)sources.size();
    co.sock_mode = opts.U("sockMode");
    co.sock_cmd = opts.B("sockCmd") ? 1 : 0;
    co.size_min = opts.U("sizeMin");
    co.size_max = opts.U("sizeMax");
    co.pipeline = opts.U("pipeline");
    co.window = opts.U("window");
    co.chunk = opts.U("chunk");
    co.zc_threshold = opts.U("zcThreshold");
    co.rate = opts.D("rate");
    co.connect_rate = opts.D("connectRate");
    co.seed = opts.U64("seed");
    co.quota = opts.U64("quota");
    co.retry_ns = (uint64_t)(opts.D("retryMs") * 1e6);
    co.drain_ns = (uint64_t)(opts.D("drainMs") * 1e6);
    co.connect_timeout_ns = (uint64_t)(opts.D("connectTimeoutMs") * 1e6);
    co.buf_count = opts.U("bufCount");
    co.buf_size = opts.U("bufSize");
    co.no_defer_taskrun = opts.B("deferTaskrun") ? 0 : 1;
    co.wait_in_ring = opts.B("waitInRing") ? 1 : 0;
    co.timeout_ns = (uint64_t)(opts.D("timeoutMs") * 1e6);
    if (!opts.ok()) return;
    RequestHolder req;
    if (co.mode >= RL_CM_HTTP) {
      if (!ParseRequest(env, o.Get("request"), co.mode, req)) return;
      co.req = &req.spec;
    }

    Adopt(new ClientCore());
    rl_counters c;
    if (!TakeCounters(info, RL_C_I32_COUNT, RL_C_U64_COUNT, "client", &c)) return;
    const char *failed = "rl_client_init";
    if (!Inited(env, rl_client_init(&core_->cl, &co, c, &failed), failed, &core_->cl.ring)) return;
    BindCallback(env, core_, Value(), info[3].As<Napi::Function>(), "ringleader:client");
    core_->on_ready = &ClientRing::OnReady;
    core_->destroy = &ClientRing::Destroy;
    Poll(env);
  }

 private:
  static void Destroy(Core *base) {
    auto *c = static_cast<ClientCore *>(base);
    if (c->inited) rl_client_destroy(&c->cl);
    c->inited = false;
    UnbindCallback(c);
    c->keep_i32.Reset();
    c->keep_u64.Reset();
  }

  static void OnReady(Core *base) { Drive(static_cast<ClientCore *>(base), 0); }

  // one event-loop wake (serve_ms 0) or a serve in io_uring_enter; once the
  // run is over, JS hears it (once). Returns the completions handled.
  static int Drive(ClientCore *c, unsigned serve_ms) {
    int r = rl_client_run(&c->cl, serve_ms);
    if (r < 0 && r != -EINTR && !c->run_err) {
      // io_uring_enter itself failed: the run cannot go on; say so once
      c->run_err = r;
    }
    if ((rl_client_done(&c->cl) || c->run_err) && !c->done_sent && !c->cb.IsEmpty()) {
      c->done_sent = true;
      Napi::Env env(c->env);
      Napi::HandleScope scope(env);
      napi_value argv[1] = {Napi::Number::New(env, c->run_err)};
      CallJs(c, Receiver(c), 1, argv);
      Rethrow(env);
    }
    return r < 0 ? 0 : r;
  }

  // serve(maxMs): a waitInRing ring is served here, waiting in io_uring_enter,
  // for up to maxMs or until the run is over (then onDone has been called)
  Napi::Value Serve(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Live(info)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      ThrowType(env, "serve(maxMs: number)");
      return env.Undefined();
    }
    return Napi::Number::New(env, Drive(core_, info[0].As<Napi::Number>().Uint32Value()));
  }

  bool Live(const Napi::CallbackInfo &info) { return Alive(info, "client ring"); }

  // wake the loop so OnReady runs (delivers "done" outside of this JS call)
  void Poke() {
    if (io_uring_sq_ready(&core_->cl.ring.ring)) rl_ring_submit(&core_->cl.ring);
    uint64_t one = 1;
    if (core_->cl.ring.efd >= 0) (void)!write(core_->cl.ring.efd, &one, sizeof(one));
  }

  // start(tStart, tMeasure, tEnd): monotonic nanoseconds (bigint); tEnd 0 = none
  Napi::Value Start(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Live(info)) return env.Undefined();
    int r = rl_client_start(&core_->cl, ArgU64(info[0]), ArgU64(info[1]), ArgU64(info[2]));
    if (r < 0) {
      ThrowErrno(env, r, "io_uring_submit");
      return env.Undefined();
    }
    Poke();
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return info.Env().Undefined();
    rl_client_stop(&core_->cl);
    Poke();
    return info.Env().Undefined();
  }

  Napi::Value Mismatches(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env);
    if (!core_ || core_->closed) return a;
    static const char *kinds[] = {"", "mismatch", "eof", "extra", "protocol", "status", "reply", "timeout", "error"};
    for (unsigned i = 0; i < core_->cl.nmm; i++) {
      const rl_mismatch &m = core_->cl.mm[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("kind", kinds[m.kind < sizeof(kinds) / sizeof(kinds[0]) ? m.kind : 0]);
      if (m.kind == RL_MM_PROTO) o.Set("protocolError", rl_proto_err_name(m.pe) ? rl_proto_err_name(m.pe) : "");
      if (m.kind == RL_MM_REPLY) o.Set("text", m.text);
      o.Set("connection", (double)m.id);
      o.Set("message", (double)m.seq);
      o.Set("offset", (double)m.off);
      o.Set("expected", m.expected);
      o.Set("got", m.got);
      a.Set(i, o);
    }
    return a;
  }

  Napi::Value State_(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), -1);
    return Napi::Number::New(info.Env(), core_->cl.state);
  }
};

static Napi::Value MonotonicNs(const Napi::CallbackInfo &info) {
  return Napi::BigInt::New(info.Env(), (uint64_t)rl_now_ns());
}

// what the client needs from the kernel beyond the server's requirements
static Napi::Value ClientProbe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  rl_probe_result p;
  rl_probe(&p);
  Napi::Object o = Napi::Object::New(env);
  o.Set("setupError", p.setup_error);
  o.Set("socket", p.ops[IORING_OP_SOCKET] != 0);
  o.Set("connect", p.ops[IORING_OP_CONNECT] != 0);
  o.Set("sendZc", p.ops[IORING_OP_SEND_ZC] != 0);
  o.Set("filesUpdate", p.ops[IORING_OP_FILES_UPDATE] != 0);
  o.Set("bind", RL_IORING_OP_BIND < 64 && p.ops[RL_IORING_OP_BIND] != 0);
  o.Set("sockCmd", p.sock_cmd_setsockopt != 0);
  o.Set("bufRing", p.buf_ring != 0);
  return o;
}

// patternBytes(seed, id, seq, offset, n) -> Uint8Array: the payload bytes
// the engine sends (and expects back), for tests and tools
static Napi::Value PatternBytes(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint64_t seed = ArgU64(info[0]);
  uint32_t id = info[1].As<Napi::Number>().Uint32Value();
  uint64_t seq = ArgU64(info[2]);
  uint64_t off = ArgU64(info[3]);
  uint32_t n = info[4].As<Napi::Number>().Uint32Value();
  Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
  rl_pat_fill(out.Data(), rl_pat_key(seed, id, seq), off, n);
  return out;
}

// patternSize(seed, id, seq, min, max) -> size of that message
static Napi::Value PatternSize(const Napi::CallbackInfo &info) {
  uint64_t key = rl_pat_key(ArgU64(info[0]), info[1].As<Napi::Number>().Uint32Value(), ArgU64(info[2]));
  return Napi::Number::New(
      info.Env(), rl_pat_size(key, info[3].As<Napi::Number>().Uint32Value(), info[4].As<Napi::Number>().Uint32Value()));
}

#define RL_NAME(n) #n,
static Napi::Value ClientLayout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  const char *i32[] = {RL_CLIENT_I32(RL_NAME)};
  const char *u64[] = {RL_CLIENT_U64(RL_NAME)};
  Napi::Array ai = Napi::Array::New(env, RL_C_I32_COUNT);
  for (uint32_t i = 0; i < RL_C_I32_COUNT; i++) ai.Set(i, i32[i]);
  Napi::Array au = Napi::Array::New(env, RL_C_U64_NAMED);
  for (uint32_t i = 0; i < RL_C_U64_NAMED; i++) au.Set(i, u64[i]);
  o.Set("i32", ai);
  o.Set("u64", au);
  o.Set("u64Size", (double)RL_C_U64_COUNT);
  o.Set("histOffset", (double)RL_C_U64_HIST);
  o.Set("connectHistOffset", (double)RL_C_U64_CHIST);
  o.Set("histBuckets", (double)RL_CLIENT_HIST_BUCKETS);
  o.Set("histSubBits", (double)RL_CLIENT_HIST_SUB_BITS);
  o.Set("errOffset", (double)RL_C_U64_ERR);
  o.Set("errSlots", (double)RL_CLIENT_ERR_SLOTS);
  o.Set("protoErrOffset", (double)RL_C_U64_PERR);
  o.Set("protoErrSlots", (double)RL_PE_LIMIT);
  o.Set("statusOffset", (double)RL_C_U64_STATUS);
  o.Set("statusSlots", (double)RL_HTTP_STATUS_SLOTS);
  o.Set("exactOffset", (double)RL_C_U64_EXACT);
  o.Set("exactSlots", (double)RL_CLIENT_EXACT);
  o.Set("secondsOffset", (double)RL_C_U64_SECS);
  o.Set("secondsSlots", (double)RL_CLIENT_SECOND_SLOTS);
  return o;
}
#undef RL_NAME

void InitClientRing(Napi::Env env, Napi::Object exports) {
  exports.Set("ClientRing", ClientRing::Init(env));
  exports.Set("monotonicNs", Napi::Function::New(env, MonotonicNs));
  exports.Set("clientProbe", Napi::Function::New(env, ClientProbe));
  exports.Set("patternBytes", Napi::Function::New(env, PatternBytes));
  exports.Set("patternSize", Napi::Function::New(env, PatternSize));
  exports.Set("clientLayout", ClientLayout(env));
}

}  // namespace rl
