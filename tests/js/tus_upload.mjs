// Drives carrel with the unmodified tus-js-client in Node.
//   node tus_upload.mjs start ENDPOINT FILE    uploads two 1 MiB chunks, aborts, prints {url, offset}
//   node tus_upload.mjs resume UPLOAD_URL FILE resumes that upload to the end, prints {resumedFrom}
//     (resumedFrom is the first progress figure: at least the old offset when it resumed)
import fs from "node:fs";
import * as tus from "tus-js-client";

const [mode, target, path] = process.argv.slice(2);
const data = fs.readFileSync(path);
const chunkSize = 1024 * 1024;

function run(opts) {
  return new Promise((resolve, reject) => {
    let up = null;
    up = new tus.Upload(data, {
      chunkSize,
      retryDelays: [0, 500, 1000],
      metadata: { filename: path.split("/").pop(), filetype: "application/octet-stream" },
      onError: reject,
      ...opts(resolve, () => up),
    });
    up.start();
  });
}

if (mode === "start") {
  let stopped = false;
  const r = await run((resolve, up) => ({
    endpoint: target,
    onChunkComplete: (_size, accepted) => {
      if (accepted >= 2 * chunkSize && !stopped) {
        stopped = true;
        up().abort().then(() => resolve({ url: up().url, offset: accepted }));
      }
    },
  }));
  console.log(JSON.stringify(r));
} else {
  let resumedFrom = null;
  await run((resolve) => ({
    uploadUrl: target,
    onProgress: (sent) => { if (resumedFrom === null) resumedFrom = sent; },
    onSuccess: () => resolve(),
  }));
  console.log(JSON.stringify({ ok: true, resumedFrom }));
}
