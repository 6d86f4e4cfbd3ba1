// The room socket's position in a room's stream (static/js/room-socket.js): the seq and epoch it
// keeps from welcomes and events, what it sends back on a reconnect, and a resync after the
// store lost writes (4010, or a snapshot welcome in a new epoch with a lower seq), after which
// the new events that reuse the lost seqs are delivered, not dropped as already seen.
//
// The page module runs against Node's WebSocket (the browser's API) over loopback; the other
// end is a small websocket endpoint in this file that plays the server's frames, so each step
// of a rollback can be played exactly (the server's side is tests/integration/test_stream_epoch.py).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { test } from "node:test";

import { RoomSocket } from "../../static/js/room-socket.js";

const WAIT_MS = 5000; // a hang guard only

/** One websocket frame from the server (unmasked); `payload` is a Buffer. */
function frameOf(opcode, payload) {
  const head = payload.length < 126 ? Buffer.from([0x80 | opcode, payload.length])
    : payload.length < 65536 ? Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff])
      : null;
  assert.ok(head, "test frames stay under 64 KiB");
  return Buffer.concat([head, payload]);
}

/** A connection as the endpoint sees it: the URL the client asked for, frames to send, a close. */
class Peer {
  constructor(url, socket) {
    this.url = new URL(url, "http://127.0.0.1");
    this.socket = socket;
    socket.on("error", () => {});
    socket.on("data", (data) => {
      if ((data[0] & 0x0f) === 0x8) this._end(Buffer.alloc(0)); // the client closes: answer it
    });
  }

  send(frame) {
    this.socket.write(frameOf(0x1, Buffer.from(JSON.stringify(frame))));
  }

  close(code) {
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code);
    this._end(body);
  }

  _end(body) {
    if (this.socket.writable) this.socket.end(frameOf(0x8, body));
  }
}

/** The loopback endpoint: each upgrade is handed out, in order, by nextPeer(). */
async function endpoint() {
  const peers = [];
  const waiting = [];
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket) => {
    const accept = createHash("sha1")
      .update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      + `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const peer = new Peer(req.url, socket);
    peers.push(peer);
    const next = waiting.shift();
    if (next) next(peer);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  let handed = 0;
  return {
    host: `127.0.0.1:${server.address().port}`,
    nextPeer() {
      const index = handed++;
      if (index < peers.length) return Promise.resolve(peers[index]);
      return withDeadline(new Promise((resolve) => waiting.push(resolve)), "a connection");
    },
    async stop() {
      for (const peer of peers) peer.socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function withDeadline(promise, what) {
  let timer;
  const deadline = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function until(predicate, what) {
  const deadline = Date.now() + WAIT_MS;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A started room socket on `server`, with what its handlers were given. */
function watch(server) {
  globalThis.window = new EventTarget(); // the socket listens for "online"
  globalThis.location = { protocol: "http:", host: server.host };
  const seen = { events: [], snapshots: [], recovered: [], statuses: [] };
  const socket = new RoomSocket("r_show", {
    token: "tok",
    handlers: {
      events: (list) => seen.events.push(...list),
      snapshot: (snap, how) => seen.snapshots.push({ snap, ...how }),
      recovered: (seq) => seen.recovered.push(seq),
      status: (state, info) => seen.statuses.push({ state, ...info }),
    },
  });
  socket.start();
  return { socket, seen };
}

/** `body({ server, socket, seen })` with a room socket started on a fresh endpoint; both are
 * stopped after, whatever the outcome. */
async function played(body) {
  const server = await endpoint();
  const { socket, seen } = watch(server);
  try {
    await body({ server, socket, seen });
  } finally {
    socket.stop();
    await server.stop();
  }
}

function welcome(seq, epoch, snapshot) {
  return {
    type: "welcome", conn_id: "c1", server_time: Date.now(), user: null,
    recovered: snapshot === null, seq, epoch, snapshot,
  };
}

const chat = (seq, text) => ({ type: "chat", seq, data: { text } });
const texts = (events) => events.map((e) => e.data.text);

test("within one epoch: seen seqs are dropped, and a reconnect asks for what followed the last one", () => played(async ({ server, socket, seen }) => {
  const first = await server.nextPeer();
  assert.equal(first.url.searchParams.get("since"), null); // a fresh join
  assert.equal(first.url.searchParams.get("token"), "tok");
  first.send(welcome(10, "e1", { recent_chat: [] }));
  first.send({ type: "events", events: [chat(11, "a"), chat(12, "b"), { type: "counters", data: {} }] });
  first.send({ type: "events", events: [chat(12, "b"), chat(13, "c")] }); // a replay overlap
  await until(() => seen.events.length === 4, "events");
  assert.deepEqual(seen.events.map((e) => e.seq ?? null), [11, 12, null, 13]);
  assert.deepEqual(seen.snapshots.map((s) => s.fresh), [true]);

  first.close(1012); // the server restarts
  const second = await server.nextPeer();
  assert.equal(second.url.searchParams.get("since"), "13");
  assert.equal(second.url.searchParams.get("epoch"), "e1");
  second.send(welcome(13, "e1", null)); // recovered: the missed events follow
  second.send({ type: "events", events: [chat(13, "c"), chat(14, "d")] });
  await until(() => seen.events.length === 5, "the missed event");
  assert.deepEqual(seen.recovered, [13]);
  assert.deepEqual(texts(seen.events.slice(4)), ["d"]);
  assert.equal(socket.seq, 14);
  assert.equal(socket.epoch, "e1");
}));

test("after a resync (4010) the snapshot's lower seq and new epoch are the position: new events reusing the lost seqs are delivered", () => played(async ({ server, socket, seen }) => {
  const first = await server.nextPeer();
  first.send(welcome(3, "e1", { recent_chat: [] }));
  first.send({ type: "events", events: [chat(4, "kept"), chat(5, "lost 1"), chat(6, "lost 2")] });
  await until(() => seen.events.length === 3, "events");

  // the store came back without seqs 5 and 6: the process that followed the room says resync
  first.close(4010);
  const second = await server.nextPeer();
  const reconnecting = seen.statuses.find((s) => s.state === "reconnecting");
  assert.equal(reconnecting.code, 4010);
  assert.ok(reconnecting.delayMs < 1100); // at once (spread over a second), not the backoff
  assert.equal(second.url.searchParams.get("since"), "6"); // the old position, in the old epoch:
  assert.equal(second.url.searchParams.get("epoch"), "e1"); // the server answers with a snapshot
  second.send(welcome(4, "e2", { recent_chat: [chat(4, "kept")] }));
  await until(() => seen.snapshots.length === 2, "the snapshot");
  assert.deepEqual(seen.snapshots.map((s) => s.fresh), [true, true]);
  assert.equal(socket.seq, 4);
  assert.equal(socket.epoch, "e2");

  second.send({ type: "events", events: [chat(5, "new 1"), chat(6, "new 2"), chat(7, "new 3")] });
  second.send({ type: "events", events: [chat(7, "new 3")] }); // still de-duplicated
  await until(() => seen.events.length === 6, "the new events");
  assert.deepEqual(texts(seen.events.slice(3)), ["new 1", "new 2", "new 3"]);

  // the next reconnect counts in the new epoch
  second.close(1012);
  const third = await server.nextPeer();
  assert.equal(third.url.searchParams.get("since"), "7");
  assert.equal(third.url.searchParams.get("epoch"), "e2");
}));

test("a reconnect whose welcome is a snapshot in a new epoch below the old position (no 4010: no process followed the room) moves back too", () => played(async ({ server, socket, seen }) => {
  const first = await server.nextPeer();
  first.send(welcome(20, "e1", { recent_chat: [] }));
  first.send({ type: "events", events: [chat(21, "a"), chat(22, "b")] });
  await until(() => seen.events.length === 2, "events");
  first.close(1012); // every process restarts; the store was restored from an older copy

  const second = await server.nextPeer();
  assert.equal(second.url.searchParams.get("since"), "22");
  assert.equal(second.url.searchParams.get("epoch"), "e1");
  second.send(welcome(20, "e2", { recent_chat: [] }));
  second.send({ type: "events", events: [chat(21, "new 1"), chat(22, "new 2"), chat(23, "new 3")] });
  await until(() => seen.events.length === 5, "the new events");
  assert.deepEqual(texts(seen.events.slice(2)), ["new 1", "new 2", "new 3"]);
  assert.deepEqual(seen.recovered, []);
  assert.equal(socket.epoch, "e2");
}));
