// SPDX-License-Identifier: MIT
// The `request` option of a ClientRing: see client_req.h. Names (reply
// kinds, framings, length prefixes) cross as strings and are mapped to the
// engine's enums here, so no number is copied by hand into TypeScript.
#include "client_req.h"

#include <cstring>

namespace rl {

namespace {

struct Ctx {
  Napi::Env env;
  RequestHolder &h;
  bool ok = true;
  bool Fail(const std::string &what) {
    if (ok) ThrowType(env, ("ClientRing option \"request\": " + what).c_str());
    ok = false;
    return false;
  }
  // bytes of a Buffer/Uint8Array, kept in the holder
  const uint8_t *Bytes(const Napi::Value &v, size_t *len, const char *what) {
    if (!v.IsTypedArray()) return Fail(std::string(what) + " must be a Uint8Array"), nullptr;
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    h.bytes.emplace_back(a.Data(), a.Data() + a.ByteLength());
    *len = a.ByteLength();
    return h.bytes.back().empty() ? (const uint8_t *)"" : h.bytes.back().data();
  }
  const char *Str(const Napi::Value &v, const char *what) {
    if (!v.IsString()) return Fail(std::string(what) + " must be a string"), nullptr;
    h.strings.push_back(v.As<Napi::String>().Utf8Value());
    return h.strings.back().c_str();
  }
  double Num(const Napi::Object &o, const char *k) {
    Napi::Value v = o.Get(k);
    if (!v.IsNumber() || !(v.As<Napi::Number>().DoubleValue() >= 0))
      return Fail(std::string(k) + " must be a number >= 0"), 0;
    return v.As<Napi::Number>().DoubleValue();
  }
  // o[k], a non-empty array of objects (`what` names it in errors): each
  // element to fn, which returns false to stop
  template <typename F>
  bool EachObject(const Napi::Object &o, const char *k, const std::string &what, F fn) {
    Napi::Value v = o.Get(k);
    if (!v.IsArray() || v.As<Napi::Array>().Length() == 0) return Fail(what + " must be a non-empty array");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      if (!a.Get(i).IsObject()) return Fail(what + "[] must be objects");
      if (!fn(a.Get(i).As<Napi::Object>())) return false;
    }
    return true;
  }
};

bool ParseHttp(Ctx &x, const Napi::Object &o) {
  bool each = x.EachObject(o, "requests", "http.requests", [&x](const Napi::Object &r) {
    rl_http_req q = {};
    q.method = x.Str(r.Get("method"), "method");
    q.target = x.Str(r.Get("target"), "target");
    q.host = x.Str(r.Get("host"), "host");
    if (!x.ok) return false;
    Napi::Value hv = r.Get("headers");
    if (!hv.IsArray()) return x.Fail("headers must be an array of [name, value]");
    Napi::Array ha = hv.As<Napi::Array>();
    x.h.hdrs.emplace_back();
    for (uint32_t k = 0; k < ha.Length(); k++) {
      if (!ha.Get(k).IsArray()) return x.Fail("headers must be an array of [name, value]");
      Napi::Array p = ha.Get(k).As<Napi::Array>();
      rl_http_hdr hd = {x.Str(p.Get((uint32_t)0), "header name"), x.Str(p.Get((uint32_t)1), "header value")};
      if (!x.ok) return false;
      x.h.hdrs.back().push_back(hd);
    }
    q.headers = x.h.hdrs.back().data();
    q.nheaders = (unsigned)x.h.hdrs.back().size();
    Napi::Value b = r.Get("body");
    if (!b.IsNull() && !b.IsUndefined()) {
      q.body = x.Bytes(b, &q.body_len, "body");
      if (!x.ok) return false;
    }
    x.h.http.push_back(q);
    return true;
  });
  if (!each) return false;
  Napi::Value st = o.Get("statusOk");
  if (!st.IsTypedArray() || st.As<Napi::Uint8Array>().ByteLength() != RL_HTTP_STATUS_SLOTS)
    return x.Fail("http.statusOk must be a Uint8Array of 600 flags");
  Napi::Uint8Array sa = st.As<Napi::Uint8Array>();
  x.h.status_ok.assign(sa.Data(), sa.Data() + RL_HTTP_STATUS_SLOTS);
  x.h.spec.http = x.h.http.data();
  x.h.spec.nhttp = (unsigned)x.h.http.size();
  x.h.spec.status_ok = x.h.status_ok.data();
  return true;
}

unsigned ReplyBit(const std::string &k) {
  static const struct {
    const char *name;
    unsigned bit;
  } kinds[] = {{"simple", RL_RESP_T_SIMPLE},        {"error", RL_RESP_T_ERROR},
               {"integer", RL_RESP_T_INTEGER},      {"bulk", RL_RESP_T_BULK},
               {"null-bulk", RL_RESP_T_NULL_BULK},  {"array", RL_RESP_T_ARRAY},
               {"null-array", RL_RESP_T_NULL_ARRAY}};
  for (const auto &e : kinds)
    if (k == e.name) return e.bit;
  return 0;
}

bool ParseRedis(Ctx &x, const Napi::Object &o) {
  bool each = x.EachObject(o, "commands", "redis.commands", [&x](const Napi::Object &c) {
    rl_req_cmd m = {};
    Napi::Value inl = c.Get("inline");
    if (!inl.IsUndefined() && !inl.IsNull()) {
      m.inl = x.Bytes(inl, &m.inl_len, "inline");
    } else {
      Napi::Value av = c.Get("args");
      if (!av.IsArray() || av.As<Napi::Array>().Length() == 0)
        return x.Fail("args must be a non-empty array of Uint8Array");
      Napi::Array args = av.As<Napi::Array>();
      x.h.argv.emplace_back();
      x.h.argl.emplace_back();
      for (uint32_t k = 0; k < args.Length(); k++) {
        size_t len = 0;
        const uint8_t *p = x.Bytes(args.Get(k), &len, "args[]");
        if (!x.ok) return false;
        x.h.argv.back().push_back(p);
        x.h.argl.back().push_back(len);
      }
      m.argv = x.h.argv.back().data();
      m.argl = x.h.argl.back().data();
      m.argc = (unsigned)args.Length();
    }
    Napi::Value ev = c.Get("expect");
    if (ev.IsArray()) {
      Napi::Array ea = ev.As<Napi::Array>();
      for (uint32_t k = 0; k < ea.Length(); k++) {
        unsigned bit = ea.Get(k).IsString() ? ReplyBit(ea.Get(k).As<Napi::String>().Utf8Value()) : 0;
        if (!bit)
          return x.Fail("expect must list reply kinds (simple, error, integer, bulk, null-bulk, array, null-array)");
        m.expect |= bit;
      }
    }
    Napi::Value wv = c.Get("word");
    if (wv.IsString()) {
      std::string w = wv.As<Napi::String>().Utf8Value();
      if (w.size() >= RL_RESP_WORD) return x.Fail("word must be shorter than 16 bytes");
      std::memcpy(m.word, w.c_str(), w.size() + 1);
    }
    if (!x.ok) return false;
    x.h.cmds.push_back(m);
    return true;
  });
  if (!each) return false;
  x.h.spec.cmds = x.h.cmds.data();
  x.h.spec.ncmds = (unsigned)x.h.cmds.size();
  x.h.spec.keyspace = (uint64_t)x.Num(o, "keyspace");
  x.h.spec.data_size = (uint32_t)x.Num(o, "dataSize");
  return x.ok;
}

bool ParseCustom(Ctx &x, const Napi::Object &o) {
  x.h.spec.send = x.Bytes(o.Get("send"), &x.h.spec.send_len, "custom.send");
  if (!x.ok) return false;
  Napi::Value fv = o.Get("framing");
  if (!fv.IsObject()) return x.Fail("custom.framing must be an object");
  Napi::Object f = fv.As<Napi::Object>();
  rl_frame_spec &s = x.h.spec.frame;
  std::string kind = f.Get("kind").IsString() ? f.Get("kind").As<Napi::String>().Utf8Value() : "";
  if (kind == "bytes") {
    s.kind = RL_FRAME_BYTES;
    s.bytes = (uint64_t)x.Num(f, "bytes");
  } else if (kind == "delimiter") {
    s.kind = RL_FRAME_DELIM;
    size_t n = 0;
    s.delim = x.Bytes(f.Get("delimiter"), &n, "framing.delimiter");
    s.delim_len = (unsigned)n;
    s.max_frame = (uint64_t)x.Num(f, "maxFrame");
  } else if (kind == "prefix") {
    static const char *names[] = {"", "u8", "u16be", "u16le", "u32be", "u32le"};
    std::string p = f.Get("prefix").IsString() ? f.Get("prefix").As<Napi::String>().Utf8Value() : "";
    for (unsigned i = RL_LP_U8; i <= RL_LP_U32LE; i++)
      if (p == names[i]) s.prefix = i;
    if (!s.prefix) return x.Fail("framing.prefix must be u8, u16be, u16le, u32be or u32le");
    s.kind = RL_FRAME_PREFIX;
    s.inclusive = f.Get("inclusive").ToBoolean().Value() ? 1 : 0;
    s.max_frame = (uint64_t)x.Num(f, "maxFrame");
  } else {
    return x.Fail("framing.kind must be bytes, delimiter or prefix");
  }
  Napi::Value ev = o.Get("expect");
  if (!ev.IsNull() && !ev.IsUndefined()) s.expect = x.Bytes(ev, &s.expect_len, "custom.expect");
  return x.ok;
}

}  // namespace

bool ParseRequest(Napi::Env env, const Napi::Value &v, unsigned mode, RequestHolder &h) {
  Ctx x{env, h};
  if (!v.IsObject()) return x.Fail("must be an object in a request mode");
  Napi::Object o = v.As<Napi::Object>();
  const char *key = mode == RL_CM_HTTP ? "http" : mode == RL_CM_REDIS ? "redis" : "custom";
  Napi::Value sub = o.Get(key);
  if (!sub.IsObject()) return x.Fail(std::string(key) + " must be an object");
  Napi::Object s = sub.As<Napi::Object>();
  bool ok = mode == RL_CM_HTTP ? ParseHttp(x, s) : mode == RL_CM_REDIS ? ParseRedis(x, s) : ParseCustom(x, s);
  return ok && x.ok;
}

}  // namespace rl
