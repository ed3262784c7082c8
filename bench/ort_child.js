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
// --profile PREFIX turns on ONNX Runtime's per-node profiler (a JSON trace; scripts/profile_resnet18.sh).
"use strict";
const fs = require("fs");

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const CMD_FD = 3, REPLY_FD = 4;

function reply(line) {
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
  if (session && args.profile) {
    const file = session.endProfiling ? session.endProfiling() : "";
    if (file) process.stderr.write(`ort_child.js: profile written to ${file}\n`);
  }
  process.exit(0);
})();
