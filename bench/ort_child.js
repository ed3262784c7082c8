// bench_e2e's ONNX Runtime contender (`ort`) and its idle floor (`ort_idle`): the same weights as the
// engine, through the .dsm's ONNX export, on ONNX Runtime's CPU provider from npm's onnxruntime-node
// (bench/e2e_child.h has the protocol: commands on fd 3, replies on fd 4). bench_e2e starts it:
//
//   node ort_child.js --ort ORT_PACKAGE_DIR --child ort|ort_idle --model FILE.onnx --batch N --threads N
//                     --shape C,H,W [--input random|grey] [--profile PREFIX]
//
// Session options as a user tuning for latency would set them: all graph optimizations,
// intra-op threads = the run's thread count, sequential execution (one inter-op thread), the CPU
// memory arena on. Timing is taken here, around back-to-back `session.run` calls, so it includes
// node's binding (creating the input/output tensor objects): a few tens of microseconds per call.
//
// Standalone (no protocol), for scripts/profile_resnet18.sh: with --runs N it runs once untimed, then
// N times under ONNX Runtime's per-node profiler (--profile PREFIX: its JSON trace goes to
// PREFIX_<date>.json), and prints one line per node, in graph order: "name<TAB>op<TAB>median ms".
// With --runs N --times FILE instead (scripts/speed_modes.sh): N timed runs, each one's ms in FILE.
"use strict";
const fs = require("fs");

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const CMD_FD = 3, REPLY_FD = 4;

function reply(line) {
  if (args.runs) {  // standalone: no parent on fd 4
    if (line.startsWith("error")) process.stderr.write(line + "\n");
    return;
  }
  fs.writeSync(REPLY_FD, line + "\n");
}

function readLine() {  // blocking, one byte at a time, as the C++ children do; null at EOF
  const b = Buffer.alloc(1);
  let s = "";
  for (;;) {
    let n;
    try {
      n = fs.readSync(CMD_FD, b, 0, 1, null);
    } catch (e) {
      if (e.code === "EAGAIN") continue;
      throw e;
    }
    if (n === 0) return null;
    if (b[0] === 10) return s;
    s += String.fromCharCode(b[0]);
  }
}

function statusKb(field) {
  const m = fs.readFileSync("/proc/self/status", "utf8").match(new RegExp("^" + field + ":\\s+(\\d+)", "m"));
  return m ? Number(m[1]) : -1;
}

function resetPeakRss() {
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch (e) {
    return false;
  }
}

// N(0, 1) noise (Box-Muller over a 32-bit LCG, fixed seed) or 0.5 everywhere: the statistics of the
// engine's input, not its exact values (timing does not depend on them).
function inputValues(n, grey) {
  const x = new Float32Array(n);
  if (grey) return x.fill(0.5);
  let s = 3 >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 1) / 4294967297;
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u())), t = 2 * Math.PI * u();
    x[i] = r * Math.cos(t);
    if (i + 1 < n) x[i + 1] = r * Math.sin(t);
  }
  return x;
}

(async () => {
  let ort, session, feeds, info = "";
  try {
    ort = require(args.ort);
    const version = JSON.parse(fs.readFileSync(require("path").join(args.ort, "package.json"), "utf8")).version;
    info = `onnxruntime-node=${version}`;
    if (args.child === "ort") {
      const threads = Number(args.threads), batch = Number(args.batch);
      const [c, h, w] = args.shape.split(",").map(Number);
      const opts = { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential",
                     graphOptimizationLevel: "all", enableCpuMemArena: true };
      if (args.profile) Object.assign(opts, { enableProfiling: true, profileFilePrefix: args.profile });
      session = await ort.InferenceSession.create(args.model, opts);
      feeds = { [session.inputNames[0]]: new ort.Tensor("float32", inputValues(batch * c * h * w, args.input === "grey"),
                                                        [batch, c, h, w]) };
      info += ` threads=${threads} graph_optimization=all`;
    } else if (args.child !== "ort_idle") {
      throw new Error(`unknown contender '${args.child}'`);
    }
  } catch (e) {
    reply("error ort_child.js: " + String(e.message || e).split("\n")[0]);
    process.exit(1);
  }
  const run = async () => { if (session) await session.run(feeds); };
  if (args.runs && args.times) return timeRuns(session, run, Number(args.runs), args.times);
  if (args.runs) return profileRuns(session, run, Number(args.runs), args.profile);
  const reset = resetPeakRss();
  reply(`ready ${info}${reset ? "" : " (peak includes construction)"}`);
  for (let cmd; (cmd = readLine()) !== null;) {
    if (cmd.startsWith("run ")) {
      const n = Math.max(1, parseInt(cmd.slice(4), 10) || 1);
      if (cmd.includes(" warm")) await run();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; ++i) await run();
      reply((Number(process.hrtime.bigint() - t0) / 1e6 / n).toFixed(6));
    } else if (cmd === "mem") {
      reply(`${statusKb("VmHWM")} ${statusKb("VmRSS")}`);
    } else {
      break;
    }
  }
  process.exit(0);
})();

// Each run's time (standalone mode, --times FILE): one untimed run, then n timed ones, written one
// per line in ms, in order (scripts/speed_modes.sh reads them as a time series).
async function timeRuns(session, run, n, file) {
  if (!session) throw new Error("--times needs --child ort");
  await run();
  const ms = [];
  for (let i = 0; i < n; ++i) {
    const t0 = process.hrtime.bigint();
    await run();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  fs.writeFileSync(file, ms.map((v) => v.toFixed(4)).join("\n") + "\n");
}

// The per-node medians of a profiled session (standalone mode). The profiler starts with the
// session, so the trace also holds the untimed first run: its events are dropped by count.
async function profileRuns(session, run, n, prefix) {
  const path = require("path");
  if (!session || !prefix) throw new Error("--runs needs --child ort and --profile PREFIX");
  await run();
  const first = Date.now();
  for (let i = 0; i < n; ++i) await run();
  session.endProfiling();
  const dir = path.dirname(prefix), base = path.basename(prefix);
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith(".json"))
    .map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (!files.length) throw new Error(`no profile ${prefix}*.json written`);
  const events = JSON.parse(fs.readFileSync(files[0], "utf8"));
  const nodes = new Map();  // name -> {op, durations in us}, in first-seen (graph) order
  for (const e of events)
    if (e.cat === "Node" && e.name.endsWith("_kernel_time")) {
      const name = e.name.slice(0, -"_kernel_time".length);
      if (!nodes.has(name)) nodes.set(name, { op: (e.args && e.args.op_name) || "?", us: [] });
      nodes.get(name).us.push(e.dur);
    }
  for (const [name, { op, us }] of nodes) {
    const timed = us.slice(-n).sort((a, b) => a - b);  // the last n runs
    process.stdout.write(`${name}\t${op}\t${(timed[(timed.length - 1) >> 1] / 1000).toFixed(4)}\n`);
  }
  process.stderr.write(`ort_child.js: ${n} profiled runs in ${Date.now() - first} ms, trace ${files[0]}\n`);
  process.exit(0);
}
