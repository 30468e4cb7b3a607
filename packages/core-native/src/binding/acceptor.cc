// SPDX-License-Identifier: MIT
// The acceptor ring (main thread): accept batches -> one JS call -> hand-offs.
#include <fcntl.h>
#include <cstring>
#include <unistd.h>

#include "common.h"
#include "../engine/acceptor.h"
#include "../engine/net.h"

namespace rl {

// ---------------------------------------------------------------------------
// Acceptor

struct AcceptorCore : Core {
  rl_acceptor a;
  bool inited = false;
  Napi::ObjectReference keep_i32, keep_u64, keep_ev;
  bool in_batch = false;
};

class Acceptor : public RingWrap<Acceptor, AcceptorCore> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineRing(env, "Acceptor",
                      {
                          InstanceMethod("listen", &Acceptor::Listen),
                          InstanceMethod("adopt", &Acceptor::AdoptListener),
                          InstanceMethod("peer", &Acceptor::Peer),
                          InstanceMethod("share", &Acceptor::Share),
                          InstanceMethod("kick", &Acceptor::Kick),
                          InstanceMethod("addTarget", &Acceptor::AddTarget),
                          InstanceMethod("removeTarget", &Acceptor::RemoveTarget),
                          InstanceMethod("dispatch", &Acceptor::Dispatch),
                          InstanceMethod("setNext", &Acceptor::SetNext),
                          InstanceMethod("reject", &Acceptor::Reject),
                          InstanceMethod("drop", &Acceptor::Drop),
                          InstanceMethod("pause", &Acceptor::Pause),
                          InstanceMethod("reserve", &Acceptor::Reserve),
                          InstanceMethod("wake", &Acceptor::Wake),
                          InstanceMethod("resume", &Acceptor::Resume),
                          InstanceMethod("stop", &Acceptor::Stop),
                          InstanceMethod("free", &Acceptor::Free),
                          InstanceAccessor("events", &Acceptor::Events, nullptr),
                      });
  }

  // new Acceptor(opts, i32, u64, onBatch(nEvents))
  Acceptor(const Napi::CallbackInfo &info) : RingWrap(info) {
    Napi::Env env = info.Env();
    if (!CtorArgs(info, true, "Acceptor(opts, i32, u64, onBatch)")) return;
    Options opts(env, info[0].As<Napi::Object>(), "Acceptor");
    rl_acceptor_opts ao = {};
    ao.table_size = opts.U("tableSize");
    ao.max_armed = opts.U("maxArmed");
    ao.multishot = opts.B("multishot") ? 1 : 0;
    ao.multishot_margin = opts.U("multishotMargin");
    ao.want_addr = opts.B("wantAddress") ? 1 : 0;
    ao.no_defer_taskrun = opts.B("deferTaskrun") ? 0 : 1;
    if (!opts.ok()) return;
    Adopt(new AcceptorCore());
    rl_counters c;
    if (!TakeCounters(info, RL_A_I32_COUNT, RL_A_U64_COUNT, "acceptor", &c)) return;
    unsigned cap = rl_acceptor_event_capacity(&ao);
    Napi::ArrayBuffer evbuf = Napi::ArrayBuffer::New(env, cap * sizeof(rl_acc_event));
    if (evbuf.IsEmpty()) return;  // a worker thread being terminated: see WorkerRing::SetUpJs
    Napi::Int32Array ev = Napi::Int32Array::New(env, cap * (sizeof(rl_acc_event) / sizeof(int32_t)), evbuf, 0);
    if (ev.IsEmpty()) return;
    core_->keep_ev = Napi::Persistent(ev.As<Napi::Object>());
    ao.ev = static_cast<rl_acc_event *>(evbuf.Data());
    ao.evcap = cap;
    const char *failed = "io_uring_queue_init";
    if (!Inited(env, rl_acceptor_init(&core_->a, &ao, c, &failed), failed, &core_->a.ring)) return;
    BindCallback(env, core_, Value(), info[3].As<Napi::Function>(), "ringleader:acceptor");
    core_->on_ready = &Acceptor::OnReady;
    core_->destroy = &Acceptor::Destroy;
    Poll(env);
  }

 private:
  bool Live(const Napi::CallbackInfo &info) { return Alive(info, "acceptor"); }

  static void Destroy(Core *base) {
    auto *c = static_cast<AcceptorCore *>(base);
    if (c->inited) rl_acceptor_destroy(&c->a);
    c->inited = false;
    UnbindCallback(c);
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
    CallJs(c, Receiver(c), 1, argv);
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
    if (c->a.nev && !c->cb.IsEmpty()) Deliver(c);
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

  // adopt(fds: number[]) -> [{ address, port }]: serve inherited listening
  // sockets (socket activation, --fd), all or none; each must be a listening
  // IPv4/IPv6 TCP socket. A bad one throws with `.fd` naming it.
  Napi::Value AdoptListener(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!Live(info)) return env.Undefined();
    if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() == 0) {
      ThrowType(env, "adopt(fds: number[])");
      return env.Undefined();
    }
    Napi::Array list = info[0].As<Napi::Array>();
    unsigned n = list.Length();
    if (n > RL_MAX_LISTENERS) {
      ThrowErrno(env, -ENOSPC, "adopt");
      return env.Undefined();
    }
    int fds[RL_MAX_LISTENERS];
    Napi::Array out = Napi::Array::New(env, n);
    for (unsigned i = 0; i < n; i++) {
      Napi::Value v = list.Get(i);
      if (!v.IsNumber()) {
        ThrowType(env, "adopt(fds: number[])");
        return env.Undefined();
      }
      fds[i] = v.As<Napi::Number>().Int32Value();
      char ip[64];
      int port = 0;
      int r = rl_listener_check(fds[i], ip, sizeof(ip), &port);
      if (r < 0) {
        napi_value e = MakeError(env, r, "adopt");
        if (e) {
          Napi::Object(env, e).Set("fd", fds[i]);
          napi_throw(env, e);
        }
        return env.Undefined();
      }
      Napi::Object o = Napi::Object::New(env);
      o.Set("address", ip);
      o.Set("port", port);
      out.Set(i, o);
    }
    // our descriptors from now on: not leaked into child processes
    for (unsigned i = 0; i < n; i++) fcntl(fds[i], F_SETFD, fcntl(fds[i], F_GETFD) | FD_CLOEXEC);
    int r = rl_acceptor_listen_fds(&core_->a, fds, n, 1);
    if (r < 0) {
      ThrowErrno(env, r, r == -ENOSPC ? "adopt" : "io_uring_submit");
      return env.Undefined();
    }
    return out;
  }

  // share() -> the listening fds, from now on never shut down (upgrade)
  Napi::Value Share(const Napi::CallbackInfo &info) {
    if (!Live(info)) return info.Env().Undefined();
    int fds[RL_MAX_LISTENERS];
    int r = rl_acceptor_share(&core_->a, fds, RL_MAX_LISTENERS);
    if (r < 0) {
      ThrowErrno(info.Env(), r, "share");
      return info.Env().Undefined();
    }
    Napi::Array out = Napi::Array::New(info.Env(), r);
    for (int i = 0; i < r; i++) out.Set(i, fds[i]);
    return out;
  }

  // kick() -> how many shared listeners' sleeping accepts were re-armed
  Napi::Value Kick(const Napi::CallbackInfo &info) {
    if (!Live(info)) return info.Env().Undefined();
    int r = rl_acceptor_kick(&core_->a);
    Flush();
    return Napi::Number::New(info.Env(), r);
  }

  // peer(connId, out: Int32Array(5)) -> 0 or -ENOENT: the client address the
  // acceptor recorded (wantAddress), as worker events carry it: out[0] =
  // family << 16 | port, out[1..4] = the 16 address bytes
  Napi::Value Peer(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int32_t *out = ArrayData<int32_t>(info[1], 5, nullptr);
    if (!info[0].IsNumber() || !out) {
      ThrowType(env, "peer(connId, out: Int32Array(5))");
      return env.Undefined();
    }
    rl_peer p;
    int r = rl_peer_get(info[0].As<Napi::Number>().Uint32Value(), &p);
    if (r == 0) {
      out[0] = (int32_t)((uint32_t)p.family << 16 | p.port);
      memcpy(&out[1], p.addr, 16);
    }
    return Napi::Number::New(env, r);
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

  // setNext(target) -> the previous pick (-1: used or none), or -errno
  // (-EBADF once closed: taking a pick back never throws)
  Napi::Value SetNext(const Napi::CallbackInfo &info) {
    if (!core_ || core_->closed) return Napi::Number::New(info.Env(), -EBADF);
    int r = rl_acceptor_set_next(&core_->a, info[0].As<Napi::Number>().Int32Value());
    return Napi::Number::New(info.Env(), r);
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

  // reserve(delta): slots kept free for connections sent back by a failing worker
  Napi::Value Reserve(const Napi::CallbackInfo &info) {
    if (!Live(info)) return info.Env().Undefined();
    rl_acceptor_reserve(&core_->a, info[0].As<Napi::Number>().Int32Value());
    Flush();
    return info.Env().Undefined();
  }

  // wake(target): ring that worker's doorbell (see rl_acceptor_wake)
  Napi::Value Wake(const Napi::CallbackInfo &info) {
    if (!Live(info)) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), rl_acceptor_wake(&core_->a, info[0].As<Napi::Number>().Uint32Value()));
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
};

void InitAcceptor(Napi::Env env, Napi::Object exports) { exports.Set("Acceptor", Acceptor::Init(env)); }

}  // namespace rl
