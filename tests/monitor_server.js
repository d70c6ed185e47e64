// A real Node.js backend for the monitor tests: plain `http`, no npm packages.
// Run with `node --expose-gc tests/monitor_server.js`; prints its port as the first stdout line.
// With TLS_CERT and TLS_KEY (PEM file paths) in the environment it serves HTTPS instead; with PORT
// it listens on that port (a test restarting the server at the same address).
// /health and /metrics report this process's real process.memoryUsage(); /last returns what the
// previous /health or /metrics response said, so a test can compare a parse with what was sent.
// /trickle/body, /trickle/headers and /trickle/chunked send a valid /health answer one byte every
// `ms` milliseconds (query), in the body, in the status line and headers, or as 1-byte chunks.
// /hostile?kind=NAME answers 200 with one of the awkward bodies in HOSTILE (huge integers, NaN,
// deep nesting, odd shapes, bytes that are not UTF-8) as /health or /metrics text.
"use strict";

const fs = require("fs");
const http = require("http");
const https = require("https");
const zlib = require("zlib");
const { monitorEventLoopDelay, PerformanceObserver } = require("perf_hooks");

// Real runtime figures for /metrics?runtime=1, measured as prom-client does.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const gcSeconds = {}; // kind -> seconds spent in GC
const gcCounts = {}; // kind -> collections
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = { 1: "major", 2: "minor", 4: "incremental", 8: "weakcb" }[entry.detail?.kind] || "other";
    gcSeconds[kind] = (gcSeconds[kind] || 0) + entry.duration / 1000;
    gcCounts[kind] = (gcCounts[kind] || 0) + 1;
  }
}).observe({ entryTypes: ["gc"] });

const MB = 1048576;
const held = []; // memory kept alive by /allocate, dropped by /free
const START_TIME_S = Math.round(Date.now() / 1000 - process.uptime()); // as prom-client does
let last = null;

function round2(x) {
  return Math.round(x * 100) / 100;
}

function statusFor(heapUsedMB) {
  if (heapUsedMB > 450) return "CRITICAL";
  if (heapUsedMB >= 350) return "WARNING";
  return "OK";
}

function send(res, code, type, body, headers = {}) {
  res.writeHead(code, { "Content-Type": type, ...headers });
  res.end(body);
}

function health(res) {
  const m = process.memoryUsage();
  const heapUsedMB = round2(m.heapUsed / MB);
  const body = {
    status: statusFor(heapUsedMB),
    memory: {
      heapUsedMB,
      heapTotalMB: round2(m.heapTotal / MB),
      externalMB: round2(m.external / MB),
      rssMB: round2(m.rss / MB),
    },
    timestamp: new Date().toISOString(),
    uptime: process.uptime(), // seconds, for restart detection
    uptimeSeconds: process.uptime(), // an extra field the client must ignore
  };
  last = body;
  send(res, 200, "application/json", JSON.stringify(body));
}

function metrics(res, params) {
  const m = process.memoryUsage();
  const p = params.get("prefix") || "";
  const lab = params.get("labels") === "1" ? '{instance="a"}' : "";
  const gauges = [
    ["process_resident_memory_bytes", "Resident memory size in bytes.", m.rss],
    ["nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes.", m.heapTotal],
    ["nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes.", m.heapUsed],
    ["nodejs_external_memory_bytes", "Node.js external memory size in bytes.", m.external],
  ];
  const lines = [];
  // ?decoy=app1_: the same gauges under a prefix first, with other values; the exact names win.
  const decoy = params.get("decoy");
  if (decoy) for (const [name, , value] of gauges) lines.push(`${decoy}${name} ${value * 3 + 1}`);
  for (const [name, help, value] of gauges) {
    lines.push(`# HELP ${p}${name} ${help}`, `# TYPE ${p}${name} gauge`, `${p}${name}${lab} ${value}`);
  }
  // prom-client's process start time: whole epoch seconds, fixed for the process's life.
  lines.push(`# TYPE ${p}process_start_time_seconds gauge`);
  lines.push(`${p}process_start_time_seconds${lab} ${START_TIME_S}`);
  // A decoy prom-client also exports: its name must not be taken for the heap totals.
  lines.push(`# TYPE ${p}nodejs_heap_space_size_used_bytes gauge`);
  lines.push(`${p}nodejs_heap_space_size_used_bytes{space="old"} 123456789`);
  last = { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external };
  // ?runtime=1: start time, loop lag p99 and GC time, as prom-client names them.
  if (params.get("runtime") === "1") {
    const start = Math.round(Date.now() / 1000 - process.uptime());
    const lag = loopDelay.percentile(99) / 1e9;
    loopDelay.reset(); // prom-client reports each scrape's own interval
    lines.push(`# TYPE ${p}process_start_time_seconds gauge`, `${p}process_start_time_seconds ${start}`);
    lines.push(`# TYPE ${p}nodejs_eventloop_lag_p99_seconds gauge`);
    lines.push(`${p}nodejs_eventloop_lag_p99_seconds ${lag}`);
    lines.push(`# TYPE ${p}nodejs_gc_duration_seconds histogram`);
    for (const [kind, seconds] of Object.entries(gcSeconds)) {
      const count = gcCounts[kind];
      lines.push(`${p}nodejs_gc_duration_seconds_bucket{le="+Inf",kind="${kind}"} ${count}`);
      lines.push(`${p}nodejs_gc_duration_seconds_sum{kind="${kind}"} ${seconds}`);
      lines.push(`${p}nodejs_gc_duration_seconds_count{kind="${kind}"} ${count}`);
    }
    Object.assign(last, { start, lag, gcSeconds: Object.values(gcSeconds).reduce((a, b) => a + b, 0) });
  }
  let type = "text/plain; version=0.0.4; charset=utf-8";
  let text = lines.join("\n") + "\n";
  // ?om=1: OpenMetrics, with a fractional timestamp and a stray sample after its end.
  if (params.get("om") === "1") {
    type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    text = text.replace(/^([a-z_:]+ [0-9.e+]+)$/gm, `$1 ${Date.now() / 1000}`);
    text += `# EOF\n${p}nodejs_heap_size_used_bytes 1\n`;
  }
  // ?gzip=header (Content-Encoding: gzip) or ?gzip=bare (no header): compressed unasked.
  const gzip = params.get("gzip");
  if (gzip) {
    const headers = gzip === "header" ? { "Content-Encoding": "gzip" } : {};
    return send(res, 200, type, zlib.gzipSync(text), headers);
  }
  send(res, 200, type, text);
}

function healthText() {
  const m = process.memoryUsage();
  return JSON.stringify({ status: "OK", memory: { heapUsedMB: round2(m.heapUsed / MB) } });
}

// One byte every `ms` until all is sent or the client goes away.
function drip(socket, text, ms, write, end) {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed) return clearInterval(timer);
    if (i >= text.length) {
      clearInterval(timer);
      return end();
    }
    write(text[i++]);
  }, ms);
  socket.on("close", () => clearInterval(timer));
}

function trickle(req, res, mode, params) {
  const ms = Number(params.get("ms") || "500");
  const body = healthText();
  const socket = req.socket;
  if (mode === "body") {
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
    return drip(socket, body, ms, (c) => res.write(c), () => res.end());
  }
  if (mode === "chunked") {
    res.writeHead(200, { "Content-Type": "application/json" }); // no length: chunked
    res.flushHeaders();
    return drip(socket, body, ms, (c) => res.write(c), () => res.end());
  }
  // headers: the raw status line and headers themselves, a byte at a time, then the body.
  const head =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return drip(socket, head + body, ms, (c) => socket.write(c), () => socket.end());
}

// /raw?kind=NAME writes one of these status lines and headers as is on the socket, then closes:
// what a peer controls in the reason a person reads (the phrase, a redirect's Location).
const ESC = "\x1b[31mRED\x1b[0m \x1b]0;title\x07";
const RAW = {
  escapes: `HTTP/1.1 503 ${ESC}\r\nContent-Length: 0\r\n\r\n`,
  longPhrase: `HTTP/1.1 503 ${"x".repeat(60000)}\r\nContent-Length: 0\r\n\r\n`,
  location: `HTTP/1.1 302 Found\r\nLocation: ftp://h/${ESC}${"y".repeat(60000)}\r\n` +
    "Content-Length: 0\r\n\r\n",
  loop: "HTTP/1.1 302 Found\r\nLocation: /raw?kind=loop\r\nContent-Length: 0\r\n\r\n",
};

function raw(req, params) {
  const text = RAW[params.get("kind") || ""] || "HTTP/1.1 404 Not Found\r\n\r\n";
  req.socket.end(Buffer.from(text, "latin1"));
}

const DIGITS = (n) => "9".repeat(n);
const HOSTILE = {
  int400: `{"status":"OK","memory":{"heapUsedMB":${DIGITS(400)},"rssMB":120}}`,
  int5000: `{"status":"OK","memory":{"heapUsedMB":${DIGITS(5000)}}}`,
  negative400: `{"memory":{"heapUsedMB":-${DIGITS(400)}}}`,
  float400: `{"memory":{"heapUsedMB":${DIGITS(400)}.5}}`,
  exp999: `{"memory":{"heapUsedMB":1e999,"heapTotalMB":-1e999}}`,
  nan: `{"memory":{"heapUsedMB":NaN,"heapTotalMB":Infinity,"externalMB":-Infinity}}`,
  stringInt: `{"memory":{"heapUsedMB":"${DIGITS(400)}"}}`,
  topLevelInt: `{"heapUsedMB":${DIGITS(400)}}`,
  status400: `{"status":${DIGITS(400)},"timestamp":${DIGITS(5000)}}`,
  statusNaN: `{"status":NaN,"timestamp":-Infinity}`,
  statusObject: `{"status":{"nested":[1,2,{"x":null}]},"memory":{"heapUsedMB":10}}`,
  statusHuge: `{"status":"${"\\u0007\\n".repeat(20000)}OK","memory":{"heapUsedMB":10}}`,
  deepArray: "[".repeat(100000) + "]".repeat(100000),
  deepObject: '{"a":'.repeat(50000) + "1" + "}".repeat(50000),
  deepMemory: `{"memory":${'{"a":'.repeat(50000)}1${"}".repeat(50000)}}`,
  array: "[1,2,3]",
  string: '"OK"',
  number: DIGITS(400),
  null: "null",
  memoryArray: `{"memory":[${DIGITS(400)},1]}`,
  memoryNested: `{"memory":{"heapUsedMB":{"value":${DIGITS(400)}},"rssMB":[1]}}`,
  empty: "",
  promInt400: `nodejs_heap_size_used_bytes ${DIGITS(400)}\nprocess_resident_memory_bytes 1e999\n`,
  promNaN: "nodejs_heap_size_used_bytes NaN\nprocess_resident_memory_bytes -Inf\n",
  promLabels: `nodejs_heap_size_used_bytes{a="${"}".repeat(5000)}"} ${DIGITS(400)}\n`,
  // One long word, with or without a label block: a name regex that can split a word between
  // name and value costs O(n^2) with the GIL held (a 900 kB line: hours).
  promLongWord: `${"a".repeat(900000)} b c\n`,
  promLongLabels: `${"a".repeat(900000)}{} b c\n`,
  promLongLines: `${"x".repeat(20000)} y z\n`.repeat(40),
};

function hostile(res, params) {
  const kind = params.get("kind") || "";
  if (kind === "bytes") {
    return send(res, 200, "application/json", Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x80]));
  }
  if (!(kind in HOSTILE)) return send(res, 404, "text/plain", "no such kind");
  return send(res, 200, "application/json", HOSTILE[kind]);
}

function allocate(res, params) {
  const mb = Number(params.get("mb") || "0");
  // Plain JS arrays of doubles live on the V8 heap (Buffers would count as external memory).
  // 65536 doubles = 0.5 MB per array, small enough to stay a fast (non-dictionary) array.
  for (let i = 0; i < mb * 2; i++) held.push(new Array(65536).fill(1.5));
  send(res, 200, "application/json", JSON.stringify({ heldArrays: held.length }));
}

// Grow or shrink the held arrays until heapUsed is about `mb` MB (within half a MB), so a test
// can walk the heap through Fibuca's levels, down as well as up.
function heap(res, params) {
  const target = Number(params.get("mb") || "0") * MB;
  while (process.memoryUsage().heapUsed < target) held.push(new Array(65536).fill(1.5));
  let over = process.memoryUsage().heapUsed - target;
  while (over > MB / 2 && held.length > 0) {
    held.splice(held.length - Math.ceil(over / (MB / 2)));
    if (global.gc) global.gc();
    over = process.memoryUsage().heapUsed - target;
  }
  const heapUsedMB = round2(process.memoryUsage().heapUsed / MB);
  send(res, 200, "application/json", JSON.stringify({ heldArrays: held.length, heapUsedMB }));
}

function free(res) {
  held.length = 0;
  if (global.gc) global.gc();
  send(res, 200, "application/json", JSON.stringify({ heldArrays: 0, gc: Boolean(global.gc) }));
}

function authorised(req) {
  const auth = req.headers.authorization || "";
  const basic = "Basic " + Buffer.from("user:s3cret").toString("base64");
  return auth === "Bearer s3cret" || auth === basic;
}

function handle(req, res) {
  const url = new URL(req.url, "http://127.0.0.1");
  switch (url.pathname) {
    case "/health":
      return health(res);
    case "/metrics":
      return metrics(res, url.searchParams);
    case "/last":
      return send(res, 200, "application/json", JSON.stringify(last));
    case "/allocate":
      return allocate(res, url.searchParams);
    case "/free":
      return free(res);
    case "/heap":
      return heap(res, url.searchParams);
    case "/trickle/body":
      return trickle(req, res, "body", url.searchParams);
    case "/trickle/headers":
      return trickle(req, res, "headers", url.searchParams);
    case "/trickle/chunked":
      return trickle(req, res, "chunked", url.searchParams);
    case "/hostile":
      return hostile(res, url.searchParams);
    case "/raw":
      return raw(req, url.searchParams);
    case "/hang":
      return; // never answers; the client's timeout must fire
    case "/slow/health": // a valid /health answer after ?ms= milliseconds: a slow server
      return setTimeout(() => health(res), Number(url.searchParams.get("ms") || 1500));
    case "/block": {
      // Busy for ?ms= milliseconds on the event loop, then answers: the loop lag prom-client
      // reports (monitorEventLoopDelay) rises as in a server doing CPU work on requests.
      const until = Date.now() + Number(url.searchParams.get("ms") || 500);
      while (Date.now() < until) {}
      return send(res, 200, "text/plain", "blocked");
    }
    case "/error":
      return send(res, 500, "text/plain", "boom");
    case "/gzipbomb": // 100 MB of zeros in about 100 kB, Content-Encoding: gzip
      return send(res, 200, "text/plain", zlib.gzipSync(Buffer.alloc(100 * MB), { level: 9 }), {
        "Content-Encoding": "gzip",
      });
    case "/garbage":
      return send(res, 200, "application/json", "<html><body>Not JSON at all</body></html>");
    case "/big": {
      const body = Buffer.alloc(2 * MB, 0x61);
      if (url.searchParams.get("chunked") === "1") {
        // No Content-Length: the client must stop reading at its cap on its own.
        res.writeHead(200, { "Content-Type": "application/json" });
        for (let i = 0; i < 32; i++) res.write(body.subarray(i * 65536, (i + 1) * 65536));
        return res.end();
      }
      return send(res, 200, "application/json", body);
    }
    case "/auth/health":
      if (!authorised(req)) {
        return send(res, 401, "text/plain", "Unauthorized", { "WWW-Authenticate": "Bearer" });
      }
      return health(res);
    default:
      return send(res, 404, "text/plain", "Not Found");
  }
}

const tls = process.env.TLS_CERT && process.env.TLS_KEY;
const server = tls
  ? https.createServer(
      { cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) },
      handle,
    )
  : http.createServer(handle);

// PORT (optional) lets a test start the server again where it was, as a restart does.
server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});
