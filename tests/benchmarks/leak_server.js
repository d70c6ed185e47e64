// A real Node.js server whose heap saws with garbage collection, optionally leaking underneath.
// Run with `node --expose-gc tests/benchmarks/leak_server.js`; prints its port as the first line.
// Plain `http`, no npm packages. Parameters come from the environment (virtual units):
//   SEED            seeds the cycle jitter (mulberry32)
//   SPEED           time compression: 10 runs 10 virtual seconds per real second (default 10)
//   BASE_MB         live data held from the start (default 30)
//   AMP_MB          garbage allocated per cycle, the sawtooth's height (default 25)
//   PERIOD_S        mean cycle length in virtual seconds, each cycle jittered +-30% (default 60)
//   LEAK_MB_PER_MIN retained per virtual minute once the leak starts (default 0: healthy)
//   LEAK_START_S    virtual second the leak starts at (default 0)
//   LEAK_KIND       heap (default: arrays on the V8 heap) or buffer (Buffers: external memory
//                   and RSS grow, the heap does not, as a native or Buffer leak does)
// Garbage is allocated steadily over each cycle (0.25 MB arrays of doubles, live until the
// cycle ends), then dropped and collected with global.gc(): the real V8 collector frees it, the
// explicit call only fixes *when*, so the sawtooth's height and period are the seeded ones.
// GET /health answers like tests/monitor_server.js (memory.heapUsedMB from the real
// process.memoryUsage()), plus virtualSeconds and retainedMB; GET /floors lists every collection
// as [virtualSeconds, heapUsedMB right after gc, retainedMB]: the true floor, for the benchmark.
"use strict";

const http = require("http");

const MB = 1048576;
const CHUNK_MB = 0.25;
const CHUNK = (CHUNK_MB * MB) / 8; // doubles per chunk

function env(name, fallback) {
  const v = process.env[name];
  return v === undefined || v === "" ? fallback : Number(v);
}

const SPEED = env("SPEED", 10);
const BASE_MB = env("BASE_MB", 30);
const AMP_MB = env("AMP_MB", 25);
const PERIOD_S = env("PERIOD_S", 60);
const LEAK = env("LEAK_MB_PER_MIN", 0);
const LEAK_START_S = env("LEAK_START_S", 0);
const LEAK_KIND = process.env.LEAK_KIND || "heap";
if (LEAK_KIND !== "heap" && LEAK_KIND !== "buffer") throw new Error("LEAK_KIND: heap or buffer");

let state = env("SEED", 1) >>> 0;
function random() {
  // mulberry32: small, seeded, good enough for jitter
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function chunk() {
  return new Array(CHUNK).fill(Math.random());
}

function leaked() {
  // a Buffer's bytes live outside the V8 heap; filled, so its pages are really resident
  return LEAK_KIND === "buffer" ? Buffer.alloc(CHUNK_MB * MB, Math.random() * 255) : chunk();
}

const start = Date.now();
const virtual = () => ((Date.now() - start) / 1000) * SPEED;
const base = [];
for (let i = 0; i < BASE_MB / CHUNK_MB; i++) base.push(chunk());
const retained = [];
let garbage = [];
let cycleStart = 0;
let cycleLength = PERIOD_S * (0.7 + 0.6 * random());
const floors = [];

function collect(now) {
  garbage = [];
  global.gc();
  floors.push([now, process.memoryUsage().heapUsed / MB, retained.length * CHUNK_MB]);
}

function tick() {
  const now = virtual();
  if (now - cycleStart >= cycleLength) {
    collect(now);
    cycleStart = now;
    cycleLength = PERIOD_S * (0.7 + 0.6 * random());
  }
  const phase = Math.min((now - cycleStart) / cycleLength, 1);
  while (garbage.length * CHUNK_MB < AMP_MB * phase) garbage.push(chunk());
  const owed = LEAK > 0 ? (LEAK * Math.max(now - LEAK_START_S, 0)) / 60 : 0;
  while (retained.length * CHUNK_MB < owed) retained.push(leaked());
}

global.gc();
setInterval(tick, 5);

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  let body;
  if (url.pathname === "/health") {
    const m = process.memoryUsage();
    body = {
      status: "OK",
      memory: {
        heapUsedMB: m.heapUsed / MB,
        heapTotalMB: m.heapTotal / MB,
        externalMB: m.external / MB,
        rssMB: m.rss / MB,
      },
      virtualSeconds: virtual(),
      baseMB: base.length * CHUNK_MB, // referenced here, or V8 would free the base data
      retainedMB: retained.length * CHUNK_MB,
    };
  } else if (url.pathname === "/floors") {
    body = floors;
  } else {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
