// Runs an ONNX model on ONNX Runtime (npm's onnxruntime-node) for test_onnxruntime.py:
//   node ort_run.js ORT_PACKAGE_DIR MODEL.onnx INPUT.f32 N C H W OUTPUT.f32
// INPUT.f32 and OUTPUT.f32 are raw little-endian float32 (input "input", output "logits").
const fs = require("fs");
const [ortDir, model, input, n, c, h, w, output] = process.argv.slice(2);
const ort = require(ortDir);

(async () => {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const buf = fs.readFileSync(input);
  // A copy: a Float32Array needs a 4-byte-aligned offset, which readFileSync's Buffer may not have.
  const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  const dims = [n, c, h, w].map(Number);
  const out = await session.run({ input: new ort.Tensor("float32", x, dims) });
  const y = out.logits;
  fs.writeFileSync(output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  console.log(`onnxruntime-node: logits ${y.dims.join("x")}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
