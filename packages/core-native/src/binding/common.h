// SPDX-License-Identifier: MIT
//
// Shared pieces of the Node-API glue: per-env state, the error path, option
// and typed-array helpers, and Core, the loop integration every ring owner
// uses (a uv_poll on the ring's eventfd, torn down exactly once from close(),
// GC, or env cleanup).
//
// Errors: the TS side registers one factory (setErrorFactory) that turns
// (errno, syscall) into a Node-shaped error; every throw here goes through it.
#ifndef RL_BINDING_COMMON_H
#define RL_BINDING_COMMON_H

#include <napi.h>
#include <uv.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>
#include <unistd.h>

// engine headers carry their own extern "C" guards (liburing's must not be
// wrapped: in C++ it includes <atomic>)
#include "../engine/counters.h"
#include "../engine/ring.h"

namespace rl {

// ---------------------------------------------------------------------------
// per-env state

struct EnvState {
  Napi::FunctionReference error_factory;
};

inline EnvState *State(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

// The runtime's error factory (Node-shaped errors) or a plain Error, made
// with plain Node-API calls for the reason given at ThrowType: any of them
// may fail while a worker thread's environment is torn down, and then
// nullptr is returned and nothing is thrown.
inline napi_value MakeError(napi_env env, int err, const char *syscall) {
  napi_value num = nullptr, name = nullptr, res = nullptr;
  if (napi_create_int32(env, err, &num) != napi_ok) return nullptr;
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &name) != napi_ok) return nullptr;
  EnvState *st = State(env);
  if (st && !st->error_factory.IsEmpty()) {
    napi_value fn = nullptr, recv = nullptr, argv[2] = {num, name};
    if (napi_get_reference_value(env, st->error_factory, &fn) != napi_ok || !fn) return nullptr;
    if (napi_get_undefined(env, &recv) != napi_ok) return nullptr;
    if (napi_call_function(env, recv, fn, 2, argv, &res) != napi_ok) return nullptr;
    return res;
  }
  std::string text = std::string(syscall) + " failed: errno " + std::to_string(err);
  napi_value msg = nullptr;
  if (napi_create_string_utf8(env, text.c_str(), NAPI_AUTO_LENGTH, &msg) != napi_ok) return nullptr;
  if (napi_create_error(env, nullptr, msg, &res) != napi_ok) return nullptr;
  napi_set_named_property(env, res, "errno", num);
  napi_set_named_property(env, res, "syscall", name);
  return res;
}

inline void ThrowErrno(Napi::Env env, int err, const char *syscall) {
  if (env.IsExceptionPending()) return;
  napi_value e = MakeError(env, err, syscall);
  if (!e || env.IsExceptionPending()) return;
  napi_throw(env, e);
}

// A TypeError, made and thrown with plain Node-API calls: node-addon-api's
// Error::New and ThrowAsJavaScriptException abort the process when a call
// fails, and they do fail while a worker thread's environment is being torn
// down (a ring constructed as its thread is terminated). Then there is no one
// left to tell, and nothing is thrown.
inline void ThrowType(Napi::Env env, const char *msg) {
  napi_value text = nullptr, err = nullptr;
  if (env.IsExceptionPending()) return;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text) != napi_ok) return;
  if (napi_create_type_error(env, nullptr, text, &err) != napi_ok) return;
  napi_throw(env, err);
}

// Uncaught exception from a callback invoked by the loop: hand it to Node.
inline void Rethrow(Napi::Env env) {
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
}

// Options of a ring come from the runtime, which validates them and fills in
// every default (runtime/src/options.ts): the binding takes them as they are.
// One that is missing or of the wrong type is a bug on the JS side, and the
// first one found throws a TypeError naming it; later reads then return 0
// and the caller checks ok() once.
class Options {
 public:
  Options(Napi::Env env, const Napi::Object &o, const char *what) : env_(env), o_(o), what_(what) {}
  bool ok() const { return ok_; }

  unsigned U(const char *k) {
    Napi::Value v = o_.Get(k);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= 4294967295.0 && d == (double)(uint64_t)d)) return Fail(k, "an integer from 0 to 2^32-1");
    return (unsigned)d;
  }
  double D(const char *k) {
    Napi::Value v = o_.Get(k);
    if (!v.IsNumber() || !(v.As<Napi::Number>().DoubleValue() >= 0)) return Fail(k, "a number >= 0");
    return v.As<Napi::Number>().DoubleValue();
  }
  // a number or a bigint, 0 to 2^64-1
  uint64_t U64(const char *k) {
    Napi::Value v = o_.Get(k);
    if (v.IsBigInt()) {
      bool lossless = false;
      uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
      if (lossless) return x;
    } else if (v.IsNumber()) {
      double d = v.As<Napi::Number>().DoubleValue();
      if (d >= 0 && d < 18446744073709551616.0 && d == (double)(uint64_t)d) return (uint64_t)d;
    }
    return Fail(k, "an integer (number or bigint) from 0 to 2^64-1");
  }
  bool B(const char *k) {
    Napi::Value v = o_.Get(k);
    if (!v.IsBoolean()) return Fail(k, "a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  std::string S(const char *k) {
    Napi::Value v = o_.Get(k);
    if (!v.IsString()) return Fail(k, "a string"), std::string();
    return v.As<Napi::String>().Utf8Value();
  }
  // an object or array that must be there
  Napi::Value Obj(const char *k) {
    Napi::Value v = o_.Get(k);
    if (!v.IsObject()) Fail(k, "an object");
    return v;
  }
  // throws for an option that is present but has the wrong type
  bool Fail(const char *k, const char *want) {
    if (!ok_) return false;
    ok_ = false;
    ThrowType(env_, (std::string(what_) + " option \"" + k + "\" must be " + want).c_str());
    return false;
  }

 private:
  Napi::Env env_;
  Napi::Object o_;
  const char *what_;
  bool ok_ = true;
};

// typed array over (possibly shared) memory; the JS object is kept alive by
// a reference held by the owner
template <typename T>
inline T *ArrayData(const Napi::Value &v, size_t min_len, Napi::ObjectReference *keep) {
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
  // tells the owner to drop its pointer: after Shutdown the Core may be freed
  // (env cleanup frees it while the ObjectWrap lives on until finalized)
  void (*forget)(void *owner) = nullptr;
  void (*on_ready)(Core *) = nullptr;
  void (*destroy)(Core *) = nullptr;
  // the one JS callback of this ring (acceptor: onBatch, worker in JS mode:
  // onEvents, client: onDone) and its async context
  Napi::FunctionReference cb;
  napi_async_context actx = nullptr;
  // the engine's ring, once its init succeeded (RingWrap::Inited)
  rl_ring *ring = nullptr;
  virtual ~Core() {}
};

inline void BindCallback(Napi::Env env, Core *c, Napi::Value resource, Napi::Function fn, const char *name) {
  c->env = env;
  c->cb = Napi::Persistent(fn);
  napi_async_init(env, resource, Napi::String::New(env, name), &c->actx);
}

inline void UnbindCallback(Core *c) {
  if (c->actx) napi_async_destroy(c->env, c->actx);
  c->actx = nullptr;
  c->cb.Reset();
}

// One crossing into JS from the loop, as a callback with async context; a
// throw stays pending for the caller to hand to Rethrow().
// the callback's return value, or nullptr when it threw (or could not run)
inline napi_value CallJs(Core *c, napi_value recv, size_t argc, const napi_value *argv) {
  napi_value result = nullptr;
  if (napi_make_callback(c->env, c->actx, recv, c->cb.Value(), argc, argv, &result) != napi_ok) return nullptr;
  return result;
}

inline void OnPollClosed(uv_handle_t *h) {
  Core *c = static_cast<Core *>(h->data);
  if (c->hook) napi_remove_async_cleanup_hook(c->hook);
  c->hook = nullptr;
  delete c;
}

// Stop polling, destroy the engine; free the Core once libuv is done with it.
inline void Shutdown(Core *c) {
  if (c->owner && c->forget) c->forget(c->owner);
  c->owner = nullptr;
  if (c->closed) return;
  c->closed = true;
  if (c->polling) {
    uv_poll_stop(&c->poll);
    c->polling = false;
  }
  if (c->destroy) c->destroy(c);
  uv_close(reinterpret_cast<uv_handle_t *>(&c->poll), OnPollClosed);
}

inline void OnPoll(uv_poll_t *h, int status, int events) {
  Core *c = static_cast<Core *>(h->data);
  if (!c->closed && c->on_ready) c->on_ready(c);
}

inline void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  Core *c = static_cast<Core *>(arg);
  if (c->closed) {
    // already closing: OnPollClosed will remove the hook
    return;
  }
  Shutdown(c);
}

inline int StartPoll(Napi::Env env, Core *c, int efd) {
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

// { name: value } object of engine constants, for the JS side
inline Napi::Object Consts(Napi::Env env, std::initializer_list<std::pair<const char *, double>> kv) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto &e : kv) o.Set(e.first, e.second);
  return o;
}

// ---------------------------------------------------------------------------
// The JS object of a ring owner: holds its Core until close(), GC, or env
// cleanup (whichever comes first) shuts it down.

template <typename Derived, typename CoreT>
class RingWrap : public Napi::ObjectWrap<Derived> {
  using Base = Napi::ObjectWrap<Derived>;

 public:
  explicit RingWrap(const Napi::CallbackInfo &info) : Base(info) {}
  ~RingWrap() override { Release(); }

  // The JS class of a ring: its own members and what every ring has,
  // close() (Derived's own when it has one), ringFd and setupFlags.
  static Napi::Function DefineRing(Napi::Env env, const char *name,
                                   std::initializer_list<typename Base::PropertyDescriptor> own) {
    std::vector<typename Base::PropertyDescriptor> props(own);
    props.push_back(Base::InstanceMethod("close", &Derived::Close));
    props.push_back(Base::InstanceAccessor("ringFd", &RingWrap::RingFd, nullptr));
    props.push_back(Base::InstanceAccessor("setupFlags", &RingWrap::SetupFlags, nullptr));
    return Base::DefineClass(env, name, props);
  }

  // close(): tear the ring down now; later calls do nothing
  Napi::Value Close(const Napi::CallbackInfo &info) {
    Release();
    return info.Env().Undefined();
  }
  // the ring's fd (-1 once closed), for msg_ring targets
  Napi::Value RingFd(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), Open() ? rl_ring_fd(core_->ring) : -1);
  }
  // the io_uring setup flags the kernel accepted (0 once closed)
  Napi::Value SetupFlags(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), Open() ? core_->ring->setup_flags : 0);
  }

 protected:
  CoreT *core_ = nullptr;

  CoreT *Adopt(CoreT *c) {
    core_ = c;
    c->owner = static_cast<Derived *>(this);
    c->forget = [](void *o) { static_cast<RingWrap *>(static_cast<Derived *>(o))->core_ = nullptr; };
    return c;
  }
  // a constructor failing before its poll started: free the Core it made
  void Abandon() {
    delete core_;
    core_ = nullptr;
  }
  void Release() {
    if (!core_) return;
    CoreT *c = core_;
    core_ = nullptr;
    c->owner = nullptr;
    Shutdown(c);
  }
  // A ring constructor's arguments (opts, i32, u64[, fn]): fn is required
  // when need_fn; otherwise a TypeError showing `usage`.
  static bool CtorArgs(const Napi::CallbackInfo &info, bool need_fn, const char *usage) {
    if (info.Length() >= 3 && info[0].IsObject() && (!need_fn || (info.Length() >= 4 && info[3].IsFunction())))
      return true;
    ThrowType(info.Env(), usage);
    return false;
  }
  // The ring's counter blocks (info[1], info[2]): typed arrays at least the
  // layout's size, kept alive by the Core. On failure: TypeError, no Core.
  bool TakeCounters(const Napi::CallbackInfo &info, size_t n32, size_t n64, const char *what, rl_counters *c) {
    c->i32 = ArrayData<int32_t>(info[1], n32, &core_->keep_i32);
    c->u64 = ArrayData<uint64_t>(info[2], n64, &core_->keep_u64);
    if (c->i32 && c->u64) return true;
    Abandon();
    ThrowType(
        info.Env(),
        (std::string(what) + " counters must be an Int32Array and a BigUint64Array of the layout's size").c_str());
    return false;
  }
  // The engine's init result r and the ring it made: on failure throw
  // naming the failed call and free the Core; on success the Core's destroy
  // must undo the init.
  bool Inited(Napi::Env env, int r, const char *failed, rl_ring *ring) {
    if (r >= 0) {
      core_->ring = ring;
      return core_->inited = true;
    }
    Abandon();
    ThrowErrno(env, r, failed);
    return false;
  }
  // Poll the ring's eventfd from the loop; on failure undo everything.
  bool Poll(Napi::Env env) {
    int r = StartPoll(env, core_, core_->ring->efd);
    if (r >= 0) return true;
    core_->destroy(core_);
    Abandon();
    ThrowErrno(env, r, "uv_poll_start");
    return false;
  }
  bool Open() const { return core_ && !core_->closed; }
  // throws EBADF naming `what` once closed
  bool Alive(const Napi::CallbackInfo &info, const char *what) {
    if (Open()) return true;
    ThrowErrno(info.Env(), -EBADF, what);
    return false;
  }
  // `this` for a JS callback: the object, or undefined once it is gone
  static napi_value Receiver(Core *c) {
    if (c->owner) return static_cast<Derived *>(c->owner)->Value();
    return Napi::Env(c->env).Undefined();
  }
};

}  // namespace rl

#endif
