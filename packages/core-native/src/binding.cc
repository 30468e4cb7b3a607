// SPDX-License-Identifier: MIT
//
// Node-API glue for the ringleader engine. Nothing here decides policy: it
// creates engine objects, wires each ring's eventfd into the calling thread's
// libuv loop, crosses into JS at most once per completion batch, and tears
// everything down on close(), on GC, and when the environment (main thread or
// worker_thread) goes away.
//
// Errors: the TS side registers one factory (setErrorFactory) that turns
// (errno, syscall) into a Node-shaped error; every throw here goes through it.

#include <napi.h>
#include <uv.h>

#include <cstring>
#include <string>
#include <unistd.h>

// engine headers carry their own extern "C" guards (liburing's must not be
// wrapped: in C++ it includes <atomic>)
#include "engine/acceptor.h"
#include "engine/counters.h"
#include "engine/net.h"
#include "engine/ring.h"
#include "engine/worker.h"

#ifndef RL_LIBURING_VERSION
#define RL_LIBURING_VERSION "unknown"
#endif

namespace {

// ---------------------------------------------------------------------------
// per-env state

struct EnvState {
  Napi::FunctionReference error_factory;
};

EnvState *State(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

Napi::Value MakeError(Napi::Env env, int err, const char *syscall) {
  EnvState *st = State(env);
  if (st && !st->error_factory.IsEmpty()) {
    return st->error_factory.Call({Napi::Number::New(env, err), Napi::String::New(env, syscall)});
  }
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + " failed: errno " + std::to_string(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e.Value();
}

void ThrowErrno(Napi::Env env, int err, const char *syscall) {
  Napi::Value e = MakeError(env, err, syscall);
  if (env.IsExceptionPending()) return;
  napi_throw(env, e);
}

void ThrowType(Napi::Env env, const char *msg) { Napi::TypeError::New(env, msg).ThrowAsJavaScriptException(); }

// Uncaught exception from a callback invoked by the loop: hand it to Node.
void Rethrow(Napi::Env env) {
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
}

unsigned OptU(const Napi::Object &o, const char *k, unsigned def) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : def;
}
bool OptB(const Napi::Object &o, const char *k, bool def) {
  Napi::Value v = o.Get(k);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : def;
}

// typed array over (possibly shared) memory; the JS object is kept alive by
// a reference held by the owner
template <typename T>
T *ArrayData(const Napi::Value &v, size_t min_len, Napi::ObjectReference *keep) {
  if (!v.IsTypedArray()) return nullptr;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.ElementSize() != sizeof(T) || ta.ElementLength() < min_len) return nullptr;
  void *data = nullptr;
  size_t len = 0;
  napi_get_typedarray_info(v.Env(), ta, nullptr, &len, &data, nullptr, nullptr);
  if (keep) *keep = Napi::Persistent(v.As<Napi::Object>());
  return static_cast<T *>(data);
}

// ---------------------------------------------------------------------------
// Loop integration shared by every ring owner: a uv_poll on the ring's
// eventfd, torn down exactly once, from close(), GC, or env cleanup.

struct Core {
  napi_env env = nullptr;
  uv_poll_t poll;
  bool polling = false;
  bool closed = false;
  napi_async_cleanup_hook_handle hook = nullptr;
  void *owner = nullptr;  // the ObjectWrap, cleared when it is finalized
  void (*on_ready)(Core *) = nullptr;
  void (*destroy)(Core *) = nullptr;
  virtual ~Core() {}
};

void OnPollClosed(uv_handle_t *h) {
  Core *c = static_cast<Core *>(h->data);
  if (c->hook) napi_remove_async_cleanup_hook(c->hook);
  c->hook = nullptr;
  delete c;
}

// Stop polling, destroy the engine; free the Core once libuv is done with it.
void Shutdown(Core *c) {
  if (c->closed) return;
  c->closed = true;
  if (c->polling) {
    uv_poll_stop(&c->poll);
    c->polling = false;
  }
  if (c->destroy) c->destroy(c);
  uv_close(reinterpret_cast<uv_handle_t *>(&c->poll), OnPollClosed);
}

void OnPoll(uv_poll_t *h, int status, int events) {
  Core *c = static_cast<Core *>(h->data);
  if (!c->closed && c->on_ready) c->on_ready(c);
}

void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  Core *c = static_cast<Core *>(arg);
  if (c->closed) {
    // already closing: OnPollClosed will remove the hook
    return;
  }
  Shutdown(c);
}

int StartPoll(Napi::Env env, Core *c, int efd) {
  c->env = env;
  uv_loop_t *loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -EINVAL;
  int r = uv_poll_init(loop, &c->poll, efd);
  if (r < 0) return r;
  c->poll.data = c;
  r = uv_poll_start(&c->poll, UV_READABLE, OnPoll);
  if (r < 0) {
    uv_close(reinterpret_cast<uv_handle_t *>(&c->poll), [](uv_handle_t *) {});
    return r;
  }
  c->polling = true;
  napi_add_async_cleanup_hook(env, OnEnvCleanup, c, &c->hook);
  return 0;
}

// ---------------------------------------------------------------------------
// Acceptor

struct AcceptorCore : Core {
  rl_acceptor a;
  bool inited = false;
  Napi::FunctionReference on_batch;
  Napi::ObjectReference keep_i32, keep_u64, keep_ev;
  napi_async_context actx = nullptr;
  bool in_batch = false;
};

class Acceptor : public Napi::ObjectWrap<Acceptor> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Acceptor",
                       {
                           InstanceMethod("listen", &Acceptor::Listen),
                           InstanceMethod("addTarget", &Acceptor::AddTarget),
                           InstanceMethod("removeTarget", &Acceptor::RemoveTarget),
                           InstanceMethod("dispatch", &Acceptor::Dispatch),
                           InstanceMethod("reject", &Acceptor::Reject),
                           InstanceMethod("drop", &Acceptor::Drop),
                           InstanceMethod("pause", &Acceptor::Pause),
                           InstanceMethod("resume", &Acceptor::Resume),
                           InstanceMethod("stop", &Acceptor::Stop),
                           InstanceMethod("close", &Acceptor::Close),
                           InstanceMethod("free", &Acceptor::Free),
                           InstanceAccessor("events", &Acceptor::Events, nullptr),
                           InstanceAccessor("ringFd", &Acceptor::RingFd, nullptr),
                       });
  }

  // new Acceptor(opts, i32, u64, onBatch(nEvents))
  Acceptor(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Acceptor>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsObject() || !info[3].IsFunction()) {
      ThrowType(env, "Acceptor(opts, i32, u64, onBatch)");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    core_ = new AcceptorCore();
    core_->owner = this;
    rl_acceptor_opts ao = {};
    ao.table_size = OptU(o, "tableSize", 4096);
    ao.max_armed = OptU(o, "maxArmed", 64);
    ao.multishot = OptB(o, "multishot", true) ? 1 : 0;
    ao.multishot_margin = OptU(o, "multishotMargin", 0);
    ao.want_addr = OptB(o, "wantAddress", false) ? 1 : 0;
    ao.no_defer_taskrun = OptB(o, "deferTaskrun", true) ? 0 : 1;
    rl_counters c;
    c.i32 = ArrayData<int32_t>(info[1], RL_A_I32_COUNT, &core_->keep_i32);
    c.u64 = ArrayData<uint64_t>(info[2], RL_A_U64_COUNT, &core_->keep_u64);
    if (!c.i32 || !c.u64) {
      delete core_;
      core_ = nullptr;
      ThrowType(env, "acceptor counters must be an Int32Array and a BigUint64Array of the layout's size");
      return;
    }
    unsigned cap = rl_acceptor_event_capacity(&ao);
    Napi::ArrayBuffer evbuf = Napi::ArrayBuffer::New(env, cap * sizeof(rl_acc_event));
    Napi::Int32Array ev = Napi::Int32Array::New(env, cap * 4, evbuf, 0);
    core_->keep_ev = Napi::Persistent(ev.As<Napi::Object>());
    ao.ev = static_cast<rl_acc_event *>(evbuf.Data());
    ao.evcap = cap;
    const char *failed = "io_uring_queue_init";
    int r = rl_acceptor_init(&core_->a, &ao, c, &failed);
    if (r < 0) {
      delete core_;
      core_ = nullptr;
      ThrowErrno(env, r, failed);
      return;
    }
    core_->inited = true;
    core_->on_batch = Napi::Persistent(info[3].As<Napi::Function>());
    napi_async_init(env, Value(), Napi::String::New(env, "ringleader:acceptor"), &core_->actx);
    core_->on_ready = &Acceptor::OnReady;
    core_->destroy = &Acceptor::Destroy;
    r = StartPoll(env, core_, core_->a.ring.efd);
    if (r < 0) {
      rl_acceptor_destroy(&core_->a);
      delete core_;
      core_ = nullptr;
      ThrowErrno(env, r, "uv_poll_start");
      return;
    }
  }

  ~Acceptor() override {
    if (core_) {
      core_->owner = nullptr;
      Shutdown(core_);
      core_ = nullptr;
    }
  }

 private:
  AcceptorCore *core_ = nullptr;

  bool Live(const Napi::CallbackInfo &info) {
    if (core_ && !core_->closed) return true;
    ThrowErrno(info.Env(), -EBADF, "acceptor");
    return false;
  }

  static void Destroy(Core *base) {
    auto *c = static_cast<AcceptorCore *>(base);
    if (c->inited) rl_acceptor_destroy(&c->a);
    c->inited = false;
    if (c->actx) napi_async_destroy(c->env, c->actx);
    c->actx = nullptr;
    c->on_batch.Reset();
    c->keep_i32.Reset();
    c->keep_u64.Reset();
    c->keep_ev.Reset();
  }

  static void Deliver(AcceptorCore *c) {
    Napi::Env env(c->env);
    Napi::HandleScope scope(env);
    unsigned n = c->a.nev;
    c->in_batch = true;
    napi_value argv[1] = {Napi::Number::New(env, n)};
    napi_value result;
    napi_value recv = c->owner ? static_cast<Acceptor *>(c->owner)->Value() : env.Undefined();
    napi_make_callback(env, c->actx, recv, c->on_batch.Value(), 1, argv, &result);
    c->in_batch = false;
    if (!c->closed) {
      c->a.nev = 0;
      if (io_uring_sq_ready(&c->a.ring.ring)) rl_ring_submit(&c->a.ring);
    }
    Rethrow(env);
  }

  static void OnReady(Core *base) {
    auto *c = static_cast<AcceptorCore *>(base);
    int r = rl_acceptor_run(&c->a);
    (void)r;
    if (c->a.nev && !c->on_batch.IsEmpty()) Deliver(c);
  }

  // After a call from JS outside a batch: submit now; deliver events it made.
  void Flush() {
    if (!core_ || core_->closed || core_->in_batch) return;
    if (io_uring_sq_ready(&core_->a.ring.ring)) rl_ring_submit(&core_->a.ring);
    if (core_->a.nev && core_->a.ring.efd >= 0) {
      uint64_t one = 1;
      (void)!write(core_->a.ring.efd, &one, sizeof(one));
    }
  }

  Napi::Value Events(const Napi::CallbackInfo &info) {
    if (!core_ || core_->keep_ev.IsEmpty()) return info.Env().Undefined();
    return core_->keep_ev.Value();
  }

  Napi::Value RingFd(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), -1);
    return Napi::Number::New(info.Env(), rl_ring_fd(&core_->a.ring));
  }

  // listen(ip, port, backlog, flags) -> bound port
  Napi::Value Listen(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Live(info)) return env.Undefined();
    if (!info[0].IsString() || !info[1].IsNumber()) {
      ThrowType(env, "listen(ip, port, backlog, flags)");
      return env.Undefined();
    }
    std::string ip = info[0].As<Napi::String>().Utf8Value();
    int port = info[1].As<Napi::Number>().Int32Value();
    int backlog = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 511;
    int flags = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
    rl_addr addr;
    if (rl_addr_parse(&addr, ip.c_str(), port) < 0) {
      ThrowErrno(env, -EINVAL, "listen");
      return env.Undefined();
    }
    const char *failed = "listen";
    int fd = rl_listen(&addr, backlog, flags, &failed);
    if (fd < 0) {
      ThrowErrno(env, fd, failed);
      return env.Undefined();
    }
    int bound = rl_local_port(fd);
    int r = rl_acceptor_start(&core_->a, fd);
    if (r < 0) {
      ThrowErrno(env, r, "io_uring_submit");
      return env.Undefined();
    }
    return Napi::Number::New(env, bound);
  }

  Napi::Value AddTarget(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Live(info)) return env.Undefined();
    int r = rl_acceptor_add_target(&core_->a, info[0].As<Napi::Number>().Int32Value());
    if (r < 0) ThrowErrno(env, r, "dup");
    return Napi::Number::New(env, r);
  }

  Napi::Value RemoveTarget(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return info.Env().Undefined();
    int r = rl_acceptor_remove_target(&core_->a, info[0].As<Napi::Number>().Uint32Value());
    return Napi::Number::New(info.Env(), r);
  }

  // dispatch(slots: Int32Array, targets: Int32Array, n) -> number queued,
  // stops at the first failure (its -errno is written into targets[i])
  Napi::Value Dispatch(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Live(info)) return env.Undefined();
    size_t n = info[2].As<Napi::Number>().Uint32Value();
    int32_t *slots = ArrayData<int32_t>(info[0], n, nullptr);
    int32_t *targets = ArrayData<int32_t>(info[1], n, nullptr);
    if (!slots || !targets) {
      ThrowType(env, "dispatch(slots: Int32Array, targets: Int32Array, n)");
      return env.Undefined();
    }
    size_t i = 0;
    for (; i < n; i++) {
      int r = rl_acceptor_handoff(&core_->a, (unsigned)slots[i], (unsigned)targets[i]);
      if (r < 0) {
        targets[i] = r;
        break;
      }
    }
    Flush();
    return Napi::Number::New(env, (double)i);
  }

  Napi::Value Reject(const Napi::CallbackInfo &info) {
    if (!Live(info)) return info.Env().Undefined();
    int r = rl_acceptor_reject(&core_->a, info[0].As<Napi::Number>().Uint32Value());
    Flush();
    return Napi::Number::New(info.Env(), r);
  }

  Napi::Value Drop(const Napi::CallbackInfo &info) {
    if (!Live(info)) return info.Env().Undefined();
    int r = rl_acceptor_drop(&core_->a, info[0].As<Napi::Number>().Uint32Value());
    Flush();
    return Napi::Number::New(info.Env(), r);
  }

  Napi::Value Pause(const Napi::CallbackInfo &info) {
    if (!Live(info)) return info.Env().Undefined();
    rl_acceptor_pause(&core_->a);
    Flush();
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo &info) {
    if (!Live(info)) return info.Env().Undefined();
    rl_acceptor_resume(&core_->a);
    Flush();
    return info.Env().Undefined();
  }

  // stop accepting for good (closes the listener); the ring stays for hand-offs
  Napi::Value Stop(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return info.Env().Undefined();
    rl_acceptor_stop(&core_->a);
    Flush();
    return info.Env().Undefined();
  }

  // slots still held (accepted, not handed off): count
  Napi::Value Free(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), 0);
    return Napi::Number::New(info.Env(), rl_acceptor_free(&core_->a));
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

// ---------------------------------------------------------------------------
// WorkerRing: a worker's ring, created on (and driven by) the calling thread

struct WorkerCore : Core {
  rl_worker w;
  bool inited = false;
  Napi::ObjectReference keep_i32, keep_u64;
};

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

// ---------------------------------------------------------------------------
// free functions

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
  o.Set("acceptorI32", Names(env, {RL_ACCEPTOR_I32(RL_NAME)}));
  o.Set("acceptorU64", Names(env, {RL_ACCEPTOR_U64(RL_NAME)}));
  return o;
}
#undef RL_NAME

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
  exports.Set("Acceptor", Acceptor::Init(env));
  exports.Set("WorkerRing", WorkerRing::Init(env));
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory));
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("strerror", Napi::Function::New(env, Strerror));
  exports.Set("histLowerBounds", Napi::Function::New(env, HistLowerBounds));
  exports.Set("layout", Layout(env));
  Napi::Object modes = Napi::Object::New(env);
  modes.Set("echo", (double)RL_MODE_ECHO);
  modes.Set("proxy", (double)RL_MODE_PROXY);
  modes.Set("js", (double)RL_MODE_JS);
  exports.Set("modes", modes);
  Napi::Object ev = Napi::Object::New(env);
  ev.Set("ACCEPT", (double)RL_AEV_ACCEPT);
  ev.Set("HANDOFF_OK", (double)RL_AEV_HANDOFF_OK);
  ev.Set("HANDOFF_ERR", (double)RL_AEV_HANDOFF_ERR);
  ev.Set("ACCEPT_ERR", (double)RL_AEV_ACCEPT_ERR);
  ev.Set("STALL", (double)RL_AEV_STALL);
  ev.Set("UNSTALL", (double)RL_AEV_UNSTALL);
  ev.Set("REJECTED", (double)RL_AEV_REJECTED);
  ev.Set("CLOSED", (double)RL_AEV_CLOSED);
  exports.Set("acceptorEvents", ev);
  Napi::Object ver = Napi::Object::New(env);
  ver.Set("liburing", RL_LIBURING_VERSION);
  ver.Set("liburingHeader", std::to_string(RL_LIBURING_MAJOR) + "." + std::to_string(RL_LIBURING_MINOR));
  exports.Set("versions", ver);
  return exports;
}

}  // namespace

NODE_API_MODULE(ringleader, InitModule)
