/* SPDX-License-Identifier: MIT */
/*
 * JS mode: connections served by a JavaScript handler running on the
 * worker's own thread.
 *
 * The engine turns completions into fixed-size event records (connection,
 * data, end, drain, close) appended to an event buffer that JS owns; the
 * binding hands the whole buffer to JS with one call per completion batch.
 * Data events name a provided buffer (buffer id + length): JS reads it in
 * place, and the buffer goes back to the kernel when the batch's call has
 * returned, unless JS wrote that very view back (then it is queued for
 * sending as it is, without a copy).
 *
 * Writes from JS are staged per connection and leave as one segment per
 * connection per batch (rl_js_flush): everything a handler writes during a
 * batch costs one send. A connection whose queued bytes reach the high-water
 * mark reports it (rl_js_write's return value); a drain event follows when
 * they fall to the low-water mark.
 *
 * Records: RL_JS_EV_WORDS int32 words each, types and fields as abi.h
 * lists them (RL_JS_EVENTS, RL_JS_FIELDS).
 */
#ifndef RL_JS_H
#define RL_JS_H

#include "abi.h"
#include "worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes at least this long skip the stage and are copied straight into a
 * chunk of their own. */
#define RL_JS_DIRECT_WRITE (64u * 1024u)

/* Use ev (cap records, owned by the caller) as the event buffer. Events that
 * do not fit wait in an engine-owned overflow list and come out in order. */
void rl_js_attach(rl_worker *w, int32_t *ev, unsigned cap);

/*
 * Delivery: n = rl_js_ready(w) records are at the start of the buffer; after
 * JS has read them, rl_js_consumed(w, n) drops them (events made while JS ran
 * follow them) and refills from the overflow list. rl_js_pending(w) says
 * whether more remain to deliver.
 */
unsigned rl_js_ready(rl_worker *w);
void rl_js_consumed(rl_worker *w, unsigned n);
int rl_js_pending(const rl_worker *w);

/* End of a batch: send what was staged, give the batch's buffers back to the
 * kernel. Returns 1 when the engine wants to run again soon (buffers came
 * back to connections that ran dry, or events are waiting). */
int rl_js_end_batch(rl_worker *w);

/* Send what is staged on every connection (not corked). */
void rl_js_flush(rl_worker *w);

/*
 * Per-connection calls from JS name the connection by (index, generation);
 * a handle to a connection that has closed or whose index was reused gets
 * -ESTALE. Writes after end() get -EPIPE.
 *
 * rl_js_write: queue len bytes; returns the bytes now queued on the
 * connection (staged + in the send queue), or -errno. Data inside the
 * provided-buffer region that belongs to the current batch is queued without
 * a copy.
 */
int64_t rl_js_write(rl_worker *w, uint32_t idx, uint16_t gen, const void *data, size_t len);
/* room for len bytes at the end of the stage, to be filled and then
 * committed with rl_js_write_commit(len actually written); NULL + *err */
uint8_t *rl_js_write_reserve(rl_worker *w, uint32_t idx, uint16_t gen, size_t len, int *err);
int64_t rl_js_write_commit(rl_worker *w, uint32_t idx, size_t len);
/* bytes staged + queued, or -errno */
int64_t rl_js_queued(rl_worker *w, uint32_t idx, uint16_t gen);
/* half-close: FIN after what is queued; the connection closes once the peer
 * has sent its FIN too */
int rl_js_end(rl_worker *w, uint32_t idx, uint16_t gen);
/* close now; err < 0 marks it as ended by an error */
int rl_js_destroy(rl_worker *w, uint32_t idx, uint16_t gen, int err);
/* paused: stop reading (the kernel's window fills, the peer waits); 0: read on */
int rl_js_flow(rl_worker *w, uint32_t idx, uint16_t gen, int paused);
/* corked: staged bytes stay staged past the end of the batch until uncork */
int rl_js_cork(rl_worker *w, uint32_t idx, uint16_t gen, int on);

#ifdef __cplusplus
}
#endif
#endif
