// Runs ONNX models in ONNX Runtime (npm onnxruntime-node) for the export
// tests: node run.js JOBS.json, where JOBS.json is a list of
// {"model": FILE, "feeds": {NAME: {"type": "double"|"string", "data": [...], "dims": [N, D]}}}
// (a feed without dims an [N, 1] tensor; null is NaN), prints one JSON list with,
// per job, the session's input and output names and every output as
// {"type", "dims", "data"} (NaN as null).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function runJob(job) {
  const session = await ort.InferenceSession.create(job.model);
  const feeds = {};
  for (const [name, feed] of Object.entries(job.feeds)) {
    const dims = feed.dims || [feed.data.length, 1];
    if (feed.type === 'double') {
      feeds[name] = new ort.Tensor('float64', Float64Array.from(feed.data, (v) => (v === null ? NaN : v)), dims);
    } else {
      feeds[name] = new ort.Tensor('string', feed.data, dims);
    }
  }
  const results = await session.run(feeds);
  const outputs = {};
  for (const [name, t] of Object.entries(results)) {
    outputs[name] = { type: t.type, dims: t.dims, data: Array.from(t.data) };
  }
  return { inputs: session.inputNames, outputs: outputs, names: session.outputNames };
}

(async () => {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const out = [];
  for (const job of jobs) {
    out.push(await runJob(job));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
