// SPDX-License-Identifier: MIT
// A worker ring, created on (and driven by) the calling thread.
//
// JS mode (mode = modes.js): the engine's event records (see engine/js.h) go
// to one JS callback per completion batch, onEvents(n), over an Int32Array
// this object owns (`events`). The provided receive buffers are exposed once
// as an ArrayBuffer (`buffers`, external memory over the engine's mapping);
// a data event names a buffer id, whose bytes are valid until the callback
// returns. Connection calls (write, end, destroy, pause, resume, cork) take
// (index, generation) and return a -errno number instead of throwing: -ESTALE
// for a handle whose connection is gone.
#include <sys/mman.h>

#include <vector>

#include "common.h"
#include "../engine/js.h"
#include "../engine/proxy.h"
#include "../engine/worker.h"

namespace rl {

// The receive-buffer mapping, shared by the engine and the ArrayBuffer that
// exposes it: whichever lets go last unmaps it, so a view JS keeps past
// close() never points at unmapped memory.
struct Region {
  void *base = nullptr;
  size_t len = 0;
  int refs = 2;
  bool ab_owns = false;
};

static void RegionRelease(Region *r) {
  if (--r->refs > 0) return;
  if (r->ab_owns && r->base) munmap(r->base, r->len);
  delete r;
}

// ---------------------------------------------------------------------------
// WorkerRing: a worker's ring, created on (and driven by) the calling thread

struct WorkerCore : Core {
  rl_worker w;
  bool inited = false;
  Napi::ObjectReference keep_i32, keep_u64, keep_up_i32, keep_up_u64;
  // JS mode
  bool js = false;
  bool in_batch = false;
  Napi::ObjectReference keep_ev;    // Int32Array of event records
  Napi::ObjectReference keep_bufs;  // ArrayBuffer over the receive buffers
  int32_t *ev = nullptr;
  Region *region = nullptr;  // external mapping shared with JS
  uint8_t *copy = nullptr;   // JS-owned copy when externals are refused
};

// typed arrays the caller may leave out (undefined: NULL); present, they
// must be of the right type and size
template <typename T>
static bool OptionalArray(Options &r, const Napi::Object &o, const char *k, size_t n, T **out,
                          Napi::ObjectReference *keep) {
  Napi::Value v = o.Get(k);
  *out = nullptr;
  if (v.IsUndefined() || v.IsNull()) return true;
  *out = ArrayData<T>(v, n, keep);
  return *out ? true : r.Fail(k, "a typed array of the layout's size");
}

// opts.proxy = { upstreams: [{ ip, port[, tier] }], policy, connectTimeout, idleTimeout,
//                backoffBase, backoffMax, maxFails, dialRetries
//                [, i32: Int32Array, u64: BigUint64Array] }
static bool ParseProxy(Napi::Env env, Options &opts, WorkerCore *core, rl_proxy_config *pc, std::vector<rl_addr> *addrs,
                       std::vector<uint8_t> *tiers) {
  Napi::Value pv = opts.Obj("proxy");
  if (!opts.ok()) return false;
  Napi::Object p = pv.As<Napi::Object>();
  Options r(env, p, "WorkerRing proxy");
  Napi::Value uv = r.Obj("upstreams");
  if (!r.ok()) return false;
  if (!uv.IsArray()) return r.Fail("upstreams", "an array");
  Napi::Array ups = uv.As<Napi::Array>();
  if (ups.Length() == 0 || ups.Length() > RL_MAX_UPSTREAMS) {
    ThrowErrno(env, -EINVAL, "proxy upstreams");
    return false;
  }
  for (uint32_t i = 0; i < ups.Length(); i++) {
    Napi::Value e = ups.Get(i);
    if (!e.IsObject()) return r.Fail("upstreams", "an array of { ip, port }");
    Options u(env, e.As<Napi::Object>(), "WorkerRing proxy upstream");
    std::string ip = u.S("ip");
    unsigned port = u.U("port");
    // its upstream group's priority (0: first); absent means one group
    unsigned tier = e.As<Napi::Object>().Has("tier") ? u.U("tier") : 0;
    if (!u.ok()) return false;
    if (tier >= RL_MAX_UPSTREAM_GROUPS) return u.Fail("tier", "an integer below abi.limits.maxUpstreamGroups");
    tiers->push_back((uint8_t)tier);
    rl_addr a;
    if (port > 65535 || rl_addr_parse(&a, ip.c_str(), (int)port) < 0) {
      ThrowErrno(env, -EINVAL, "proxy upstream address");
      return false;
    }
    addrs->push_back(a);
  }
  pc->upstreams = addrs->data();
  pc->tiers = tiers->data();
  pc->n = (unsigned)addrs->size();
  pc->policy = r.U("policy");
  pc->connect_timeout_ms = r.U("connectTimeout");
  pc->idle_timeout_ms = r.U("idleTimeout");
  pc->backoff_base_ms = r.U("backoffBase");
  pc->backoff_max_ms = r.U("backoffMax");
  pc->max_fails = r.U("maxFails");
  pc->dial_retries = r.U("dialRetries");
  if (!r.ok()) return false;
  return OptionalArray(r, p, "i32", (size_t)pc->n * RL_U_I32_COUNT, &pc->ui32, &core->keep_up_i32) &&
         OptionalArray(r, p, "u64", (size_t)pc->n * RL_U_U64_COUNT, &pc->uu64, &core->keep_up_u64);
}

class WorkerRing : public RingWrap<WorkerRing, WorkerCore> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineRing(env, "WorkerRing",
                      {
                          InstanceMethod("closeAll", &WorkerRing::CloseAll),
                          InstanceMethod("evacuate", &WorkerRing::Evacuate),
                          InstanceMethod("serve", &WorkerRing::Serve),
                          InstanceMethod("write", &WorkerRing::Write),
                          InstanceMethod("end", &WorkerRing::End),
                          InstanceMethod("destroy", &WorkerRing::Destroy),
                          InstanceMethod("pause", &WorkerRing::Flow<1>),
                          InstanceMethod("resume", &WorkerRing::Flow<0>),
                          InstanceMethod("cork", &WorkerRing::Cork),
                          InstanceMethod("queued", &WorkerRing::Queued),
                          InstanceMethod("flush", &WorkerRing::Flush),
                          InstanceAccessor("events", &WorkerRing::Events, nullptr),
                          InstanceAccessor("buffers", &WorkerRing::Buffers, nullptr),
                          InstanceAccessor("bufferSize", &WorkerRing::BufferSize, nullptr),
                          InstanceAccessor("highWater", &WorkerRing::HighWater, nullptr),
                          InstanceAccessor("live", &WorkerRing::Live, nullptr),
                      });
  }

  // new WorkerRing(opts, i32, u64[, onEvents(n)]) -- onEvents is required in JS mode
  WorkerRing(const Napi::CallbackInfo &info) : RingWrap(info) {
    Napi::Env env = info.Env();
    if (!CtorArgs(info, false, "WorkerRing(opts, i32, u64[, onEvents])")) return;
    Napi::Object o = info[0].As<Napi::Object>();
    Options opts(env, o, "WorkerRing");
    rl_worker_opts wo = {};
    wo.mode = opts.U("mode");
    if (!opts.ok()) return;
    if (wo.mode == RL_MODE_JS && opts.B("waitInRing")) {
      ThrowType(env, "WorkerRing in JS mode is served by its event loop: waitInRing must be false");
      return;
    }
    if (wo.mode == RL_MODE_JS && !info[3].IsFunction()) {
      ThrowType(env, "WorkerRing in JS mode needs onEvents(n)");
      return;
    }
    wo.table_size = opts.U("tableSize");
    wo.buf_count = opts.U("bufCount");
    wo.buf_size = opts.U("bufSize");
    wo.hiwat = opts.U("highWater");
    wo.max_bufs = opts.U("maxBuffers");
    wo.no_defer_taskrun = opts.B("deferTaskrun") ? 0 : 1;
    wo.zc_threshold = opts.U("zcThreshold");
    bool copy_buffers = opts.B("copyBuffers");
    wo.wait_in_ring = opts.B("waitInRing") ? 1 : 0;
    if (!opts.ok()) return;
    Adopt(new WorkerCore());
    rl_proxy_config pc = {};
    std::vector<rl_addr> addrs;
    std::vector<uint8_t> tiers;
    if (wo.mode == RL_MODE_PROXY) {
      if (!ParseProxy(env, opts, core_, &pc, &addrs, &tiers)) {
        Abandon();
        return;
      }
      wo.mode_config = &pc;
    }
    rl_counters c;
    if (!TakeCounters(info, RL_W_I32_COUNT, RL_W_U64_COUNT, "worker", &c)) return;
    const char *failed = "io_uring_queue_init";
    if (!Inited(env, rl_worker_init(&core_->w, &wo, c, &failed), failed, &core_->w.ring)) return;
    core_->on_ready = [](Core *b) { rl_worker_run(&static_cast<WorkerCore *>(b)->w); };
    core_->destroy = &WorkerRing::DestroyCore;
    if (wo.mode == RL_MODE_JS && !SetUpJs(env, copy_buffers, info[3].As<Napi::Function>())) {
      DestroyCore(core_);
      Abandon();
      return;
    }
    Poll(env);
  }

 private:
  static void DestroyCore(Core *b) {
    auto *wc = static_cast<WorkerCore *>(b);
    if (wc->region && wc->inited) {
      // hand the mapping to the ArrayBuffer (it unmaps it when collected,
      // if it outlives us); the engine unmaps a placeholder instead
      void *ph = mmap(nullptr, wc->w.br.map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (ph != MAP_FAILED) {
        wc->region->base = wc->w.br.base;
        wc->region->len = wc->w.br.map_len;
        wc->region->ab_owns = true;
        wc->w.br.base = static_cast<uint8_t *>(ph);
      } else {
        // no placeholder: keep the mapping for good rather than risk a view
        // into unmapped memory
        wc->w.br.base = nullptr;
        wc->w.br.map_len = 0;
      }
    }
    if (wc->inited) rl_worker_destroy(&wc->w);
    wc->inited = false;
    if (wc->region) RegionRelease(wc->region);
    wc->region = nullptr;
    UnbindCallback(wc);
    wc->keep_ev.Reset();
    wc->keep_bufs.Reset();
    wc->keep_i32.Reset();
    wc->keep_u64.Reset();
    wc->keep_up_i32.Reset();
    wc->keep_up_u64.Reset();
  }

  bool SetUpJs(Napi::Env env, bool copy_buffers, Napi::Function fn) {
    WorkerCore *c = core_;
    c->js = true;
    c->env = env;
    unsigned cap = c->w.cx.cap * 2;
    cap = cap < 1024 ? 1024 : cap > 16384 ? 16384 : cap;
    // In a worker thread being terminated, creating a buffer fails and
    // node-addon-api hands back an empty handle: reading it would abort the
    // process (Error::New with no env), so give up instead.
    Napi::ArrayBuffer evbuf = Napi::ArrayBuffer::New(env, (size_t)cap * RL_JS_EV_WORDS * sizeof(int32_t));
    if (evbuf.IsEmpty()) return false;
    Napi::Int32Array ev = Napi::Int32Array::New(env, (size_t)cap * RL_JS_EV_WORDS, evbuf, 0);
    if (ev.IsEmpty()) return false;
    c->keep_ev = Napi::Persistent(ev.As<Napi::Object>());
    c->ev = static_cast<int32_t *>(evbuf.Data());
    rl_js_attach(&c->w, c->ev, cap);
    size_t region = (size_t)c->w.br.count * c->w.br.size;
    napi_value ab = nullptr;
    if (!copy_buffers) {
      Region *r = new Region();
      if (napi_create_external_arraybuffer(
              env, c->w.br.base, region,
              [](napi_env, void *, void *hint) { RegionRelease(static_cast<Region *>(hint)); }, r, &ab) == napi_ok) {
        c->region = r;
      } else {
        delete r;
        ab = nullptr;
        if (env.IsExceptionPending()) env.GetAndClearPendingException();
      }
    }
    if (!ab) {
      // external buffers refused (or asked not to use them): data is copied
      // into a JS-owned arena at the same offsets before each call
      Napi::ArrayBuffer own = Napi::ArrayBuffer::New(env, region);
      if (own.IsEmpty()) return false;
      c->copy = static_cast<uint8_t *>(own.Data());
      ab = own;
    }
    c->keep_bufs = Napi::Persistent(Napi::Value(env, ab).As<Napi::Object>());
    BindCallback(env, c, Value(), fn, "ringleader:worker");
    c->on_ready = &WorkerRing::OnReadyJs;
    return true;
  }

  static void CopyData(WorkerCore *c, unsigned n) {
    for (unsigned i = 0; i < n; i++) {
      int32_t *r = c->ev + (size_t)i * RL_JS_EV_WORDS;
      if ((r[RL_JF_head] & ((1 << RL_JS_TYPE_BITS) - 1)) != RL_JEV_DATA) continue;
      size_t off = (size_t)(uint32_t)r[RL_JF_buffer] * c->w.br.size;
      memcpy(c->copy + off, c->w.br.base + off, (size_t)(uint32_t)r[RL_JF_length]);
    }
  }

  // One wake: run the ring, then hand every event to JS -- one call, unless
  // more events were made while it ran than the buffer holds.
  static void OnReadyJs(Core *b) {
    auto *c = static_cast<WorkerCore *>(b);
    rl_worker_run(&c->w);
    Napi::Env env(c->env);
    Napi::HandleScope scope(env);
    unsigned n;
    c->in_batch = true;
    while (!c->closed && (n = rl_js_ready(&c->w)) > 0) {
      if (c->copy) CopyData(c, n);
      napi_value argv[1] = {Napi::Number::New(env, n)};
      napi_value r = CallJs(c, Receiver(c), 1, argv);
      if (c->closed) break;  // JS closed the ring from the callback
      // JS hands back how many it handled: fewer when its time slice ran
      // out (a slow handler); the rest waits for the next turn of the event
      // loop, after this batch's writes have gone out
      unsigned k = n;
      double d;
      if (r && napi_get_value_double(env, r, &d) == napi_ok && d >= 1 && d < n) k = (unsigned)d;
      rl_js_consumed(&c->w, k);
      if (env.IsExceptionPending() || k < n) break;
    }
    c->in_batch = false;
    if (!c->closed) {
      int again = rl_js_end_batch(&c->w);
      if (io_uring_sq_ready(&c->w.ring.ring)) rl_ring_submit(&c->w.ring);
      if (again) Wake(c);
    }
    Rethrow(env);
  }

  static void Wake(WorkerCore *c) {
    if (c->w.ring.efd >= 0) {
      uint64_t one = 1;
      (void)!write(c->w.ring.efd, &one, sizeof(one));
    }
  }

  bool JsLive(const Napi::CallbackInfo &info) {
    if (core_ && !core_->closed && core_->js) return true;
    if (core_ && !core_->js) ThrowType(info.Env(), "this worker ring is not in JS mode");
    return false;
  }

  static uint32_t U32(const Napi::Value &v) { return v.As<Napi::Number>().Uint32Value(); }

  // write(index, gen, data: ArrayBufferView | string) -> bytes queued on the
  // connection after this write, or -errno
  Napi::Value Write(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!JsLive(info)) return Napi::Number::New(env, -EBADF);
    uint32_t idx = U32(info[0]);
    uint16_t gen = (uint16_t)U32(info[1]);
    napi_value v = info[2];
    int64_t r;
    bool is_ta = false, is_dv = false;
    napi_is_typedarray(env, v, &is_ta);
    if (!is_ta) napi_is_dataview(env, v, &is_dv);
    if (is_ta || is_dv) {
      void *data = nullptr;
      size_t len = 0;
      if (is_ta) {
        napi_typedarray_type t;
        size_t count = 0;
        napi_get_typedarray_info(env, v, &t, &count, &data, nullptr, nullptr);
        size_t el = 1;
        switch (t) {
          case napi_int16_array:
          case napi_uint16_array:
            el = 2;
            break;
          case napi_int32_array:
          case napi_uint32_array:
          case napi_float32_array:
            el = 4;
            break;
          case napi_float64_array:
          case napi_bigint64_array:
          case napi_biguint64_array:
            el = 8;
            break;
          default:
            el = 1;
            break;
        }
        len = count * el;
      } else {
        napi_get_dataview_info(env, v, &len, &data, nullptr, nullptr);
      }
      r = rl_js_write(&core_->w, idx, gen, data, len);
    } else if (info[2].IsString()) {
      size_t len = 0;
      napi_get_value_string_utf8(env, v, nullptr, 0, &len);
      int err = 0;
      uint8_t *p = rl_js_write_reserve(&core_->w, idx, gen, len + 1, &err);
      if (!p) {
        r = err;
      } else {
        size_t got = 0;
        napi_get_value_string_utf8(env, v, reinterpret_cast<char *>(p), len + 1, &got);
        r = rl_js_write_commit(&core_->w, idx, got);
      }
    } else {
      ThrowType(env, "write(index, gen, data): data must be a string, Buffer, TypedArray or DataView");
      return env.Undefined();
    }
    return Napi::Number::New(env, (double)r);
  }

  Napi::Value End(const Napi::CallbackInfo &info) {
    if (!JsLive(info)) return Napi::Number::New(info.Env(), -EBADF);
    return Napi::Number::New(info.Env(), rl_js_end(&core_->w, U32(info[0]), (uint16_t)U32(info[1])));
  }

  // destroy(index, gen, errno): errno < 0 counts it as ended by an error
  Napi::Value Destroy(const Napi::CallbackInfo &info) {
    if (!JsLive(info)) return Napi::Number::New(info.Env(), -EBADF);
    int e = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
    return Napi::Number::New(info.Env(), rl_js_destroy(&core_->w, U32(info[0]), (uint16_t)U32(info[1]), e));
  }

  // pause(index, gen) / resume(index, gen)
  template <int Paused>
  Napi::Value Flow(const Napi::CallbackInfo &info) {
    if (!JsLive(info)) return Napi::Number::New(info.Env(), -EBADF);
    return Napi::Number::New(info.Env(), rl_js_flow(&core_->w, U32(info[0]), (uint16_t)U32(info[1]), Paused));
  }

  // cork(index, gen, on)
  Napi::Value Cork(const Napi::CallbackInfo &info) {
    if (!JsLive(info)) return Napi::Number::New(info.Env(), -EBADF);
    bool on = info[2].ToBoolean().Value();
    return Napi::Number::New(info.Env(), rl_js_cork(&core_->w, U32(info[0]), (uint16_t)U32(info[1]), on ? 1 : 0));
  }

  Napi::Value Queued(const Napi::CallbackInfo &info) {
    if (!JsLive(info)) return Napi::Number::New(info.Env(), -EBADF);
    return Napi::Number::New(info.Env(), (double)rl_js_queued(&core_->w, U32(info[0]), (uint16_t)U32(info[1])));
  }

  // After calls made outside a batch (timers, promises): send what they
  // staged and submit what they queued.
  Napi::Value Flush(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed || !core_->js) return info.Env().Undefined();
    if (core_->in_batch) return info.Env().Undefined();  // the batch end does it
    rl_js_flush(&core_->w);
    if (io_uring_sq_ready(&core_->w.ring.ring)) rl_ring_submit(&core_->w.ring);
    if (rl_js_pending(&core_->w)) Wake(core_);
    return info.Env().Undefined();
  }

  Napi::Value Events(const Napi::CallbackInfo &info) {
    if (!core_ || core_->keep_ev.IsEmpty()) return info.Env().Undefined();
    return core_->keep_ev.Value();
  }

  Napi::Value Buffers(const Napi::CallbackInfo &info) {
    if (!core_ || core_->keep_bufs.IsEmpty()) return info.Env().Undefined();
    return core_->keep_bufs.Value();
  }

  Napi::Value BufferSize(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), 0);
    return Napi::Number::New(info.Env(), core_->w.br.size);
  }

  Napi::Value HighWater(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), 0);
    return Napi::Number::New(info.Env(), core_->w.hiwat);
  }

  Napi::Value Live(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), 0);
    return Napi::Number::New(info.Env(), core_->w.cx.live);
  }

  Napi::Value CloseAll(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return info.Env().Undefined();
    rl_worker_close_all(&core_->w);
    rl_ring_submit(&core_->w.ring);
    return Napi::Number::New(info.Env(), core_->w.cx.live);
  }

  // evacuate(acceptorRingFd): send every later arrival back to the acceptor
  Napi::Value Evacuate(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!core_ || core_->closed) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      ThrowType(env, "evacuate(acceptorRingFd: number)");
      return env.Undefined();
    }
    int r = rl_worker_evacuate(&core_->w, info[0].As<Napi::Number>().Int32Value());
    if (r < 0) ThrowErrno(env, r, "fcntl");
    return env.Undefined();
  }

  // serve(maxMs): a waitInRing ring is served here, waiting in io_uring_enter,
  // until maxMs have passed or a doorbell rang (Acceptor.wake); returns the
  // completions handled
  Napi::Value Serve(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Alive(info, "worker ring")) return env.Undefined();
    if (!core_->w.ring.ready || info.Length() < 1 || !info[0].IsNumber()) {
      ThrowType(env, "serve(maxMs: number)");
      return env.Undefined();
    }
    int r = rl_worker_serve(&core_->w, info[0].As<Napi::Number>().Uint32Value());
    if (r < 0) ThrowErrno(env, r, "io_uring_enter");
    return Napi::Number::New(env, r < 0 ? 0 : r);
  }

 public:
  // close() (DefineRing binds it): views of the receive buffers kept past it read as detached
  // rather than as stale memory
  Napi::Value Close(const Napi::CallbackInfo &info) {
    if (core_ && core_->region && !core_->keep_bufs.IsEmpty()) {
      napi_detach_arraybuffer(info.Env(), core_->keep_bufs.Value());
      if (info.Env().IsExceptionPending()) info.Env().GetAndClearPendingException();
    }
    Release();
    return info.Env().Undefined();
  }
};

void InitWorkerRing(Napi::Env env, Napi::Object exports) { exports.Set("WorkerRing", WorkerRing::Init(env)); }

}  // namespace rl
