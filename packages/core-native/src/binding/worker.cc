// SPDX-License-Identifier: MIT
// A worker ring, created on (and driven by) the calling thread.
#include <vector>

#include "common.h"
#include "../engine/proxy.h"
#include "../engine/worker.h"

namespace rl {

// ---------------------------------------------------------------------------
// WorkerRing: a worker's ring, created on (and driven by) the calling thread

struct WorkerCore : Core {
  rl_worker w;
  bool inited = false;
  Napi::ObjectReference keep_i32, keep_u64, keep_up_i32, keep_up_u64;
};

// opts.proxy = { upstreams: [{ ip, port }], policy, connectTimeout, idleTimeout,
//                backoffBase, backoffMax, i32: Int32Array, u64: BigUint64Array }
static bool ParseProxy(Napi::Env env, const Napi::Object &o, WorkerCore *core, rl_proxy_config *pc,
                       std::vector<rl_addr> *addrs) {
  Napi::Value pv = o.Get("proxy");
  if (!pv.IsObject()) {
    ThrowType(env, "proxy mode needs opts.proxy");
    return false;
  }
  Napi::Object p = pv.As<Napi::Object>();
  Napi::Value uv = p.Get("upstreams");
  if (!uv.IsArray()) {
    ThrowType(env, "opts.proxy.upstreams must be an array");
    return false;
  }
  Napi::Array ups = uv.As<Napi::Array>();
  if (ups.Length() == 0 || ups.Length() > RL_PROXY_MAX_UPSTREAMS) {
    ThrowErrno(env, -EINVAL, "proxy upstreams");
    return false;
  }
  for (uint32_t i = 0; i < ups.Length(); i++) {
    Napi::Value e = ups.Get(i);
    if (!e.IsObject()) {
      ThrowType(env, "an upstream must be { ip, port }");
      return false;
    }
    Napi::Object u = e.As<Napi::Object>();
    rl_addr a;
    std::string ip = u.Get("ip").ToString().Utf8Value();
    if (rl_addr_parse(&a, ip.c_str(), (int)OptU(u, "port", 0)) < 0) {
      ThrowErrno(env, -EINVAL, "proxy upstream address");
      return false;
    }
    addrs->push_back(a);
  }
  pc->upstreams = addrs->data();
  pc->n = (unsigned)addrs->size();
  pc->policy = OptU(p, "policy", RL_UP_ROUND_ROBIN);
  pc->connect_timeout_ms = OptU(p, "connectTimeout", 2000);
  pc->idle_timeout_ms = OptU(p, "idleTimeout", 0);
  pc->backoff_base_ms = OptU(p, "backoffBase", 0);
  pc->backoff_max_ms = OptU(p, "backoffMax", 0);
  pc->ui32 = ArrayData<int32_t>(p.Get("i32"), (size_t)pc->n * RL_U_I32_COUNT, &core->keep_up_i32);
  pc->uu64 = ArrayData<uint64_t>(p.Get("u64"), (size_t)pc->n * RL_U_U64_COUNT, &core->keep_up_u64);
  return true;
}

class WorkerRing : public Napi::ObjectWrap<WorkerRing> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "WorkerRing",
                       {
                           InstanceMethod("closeAll", &WorkerRing::CloseAll),
                           InstanceMethod("close", &WorkerRing::Close),
                           InstanceAccessor("ringFd", &WorkerRing::RingFd, nullptr),
                           InstanceAccessor("live", &WorkerRing::Live, nullptr),
                           InstanceAccessor("setupFlags", &WorkerRing::SetupFlags, nullptr),
                       });
  }

  // new WorkerRing(opts, i32, u64)
  WorkerRing(const Napi::CallbackInfo &info) : Napi::ObjectWrap<WorkerRing>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsObject()) {
      ThrowType(env, "WorkerRing(opts, i32, u64)");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    core_ = new WorkerCore();
    core_->owner = this;
    rl_worker_opts wo = {};
    wo.table_size = OptU(o, "tableSize", 4096);
    wo.buf_count = OptU(o, "bufCount", 1024);
    wo.buf_size = OptU(o, "bufSize", 16384);
    wo.mode = OptU(o, "mode", RL_MODE_ECHO);
    wo.hiwat = OptU(o, "highWater", 0);
    wo.lowat = OptU(o, "lowWater", 0);
    wo.no_defer_taskrun = OptB(o, "deferTaskrun", true) ? 0 : 1;
    wo.zc_threshold = OptU(o, "zcThreshold", 0);
    rl_proxy_config pc = {};
    std::vector<rl_addr> addrs;
    if (wo.mode == RL_MODE_PROXY) {
      if (!ParseProxy(env, o, core_, &pc, &addrs)) {
        delete core_;
        core_ = nullptr;
        return;
      }
      wo.mode_config = &pc;
    }
    rl_counters c;
    c.i32 = ArrayData<int32_t>(info[1], RL_W_I32_COUNT, &core_->keep_i32);
    c.u64 = ArrayData<uint64_t>(info[2], RL_W_U64_COUNT, &core_->keep_u64);
    if (!c.i32 || !c.u64) {
      delete core_;
      core_ = nullptr;
      ThrowType(env, "worker counters must be an Int32Array and a BigUint64Array of the layout's size");
      return;
    }
    const char *failed = "io_uring_queue_init";
    int r = rl_worker_init(&core_->w, &wo, c, &failed);
    if (r < 0) {
      delete core_;
      core_ = nullptr;
      ThrowErrno(env, r, failed);
      return;
    }
    core_->inited = true;
    core_->on_ready = [](Core *b) { rl_worker_run(&static_cast<WorkerCore *>(b)->w); };
    core_->destroy = [](Core *b) {
      auto *wc = static_cast<WorkerCore *>(b);
      if (wc->inited) rl_worker_destroy(&wc->w);
      wc->inited = false;
      wc->keep_i32.Reset();
      wc->keep_u64.Reset();
      wc->keep_up_i32.Reset();
      wc->keep_up_u64.Reset();
    };
    r = StartPoll(env, core_, core_->w.ring.efd);
    if (r < 0) {
      rl_worker_destroy(&core_->w);
      delete core_;
      core_ = nullptr;
      ThrowErrno(env, r, "uv_poll_start");
    }
  }

  ~WorkerRing() override {
    if (core_) {
      core_->owner = nullptr;
      Shutdown(core_);
      core_ = nullptr;
    }
  }

 private:
  WorkerCore *core_ = nullptr;

  Napi::Value RingFd(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), -1);
    return Napi::Number::New(info.Env(), rl_ring_fd(&core_->w.ring));
  }

  Napi::Value Live(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), 0);
    return Napi::Number::New(info.Env(), core_->w.live);
  }

  Napi::Value SetupFlags(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), 0);
    return Napi::Number::New(info.Env(), core_->w.ring.setup_flags);
  }

  Napi::Value CloseAll(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return info.Env().Undefined();
    rl_worker_close_all(&core_->w);
    rl_ring_submit(&core_->w.ring);
    return Napi::Number::New(info.Env(), core_->w.live);
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    if (core_) {
      core_->owner = nullptr;
      Shutdown(core_);
      core_ = nullptr;
    }
    return info.Env().Undefined();
  }
};

void InitWorkerRing(Napi::Env env, Napi::Object exports) { exports.Set("WorkerRing", WorkerRing::Init(env)); }

}  // namespace rl
