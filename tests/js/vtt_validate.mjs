// Parses WebVTT files with the W3C's webvtt-parser (the validator's parser)
// in strict mode. Prints JSON: [{file, cues, errors: [{message, line}]}]
//   node vtt_validate.mjs FILE...
import fs from "node:fs";
import webvtt from "webvtt-parser";

const { WebVTTParser } = webvtt;

const out = [];
for (const file of process.argv.slice(2)) {
  const tree = new WebVTTParser().parse(fs.readFileSync(file, "utf8"), "subtitles/captions");
  out.push({
    file,
    cues: tree.cues.map((c) => ({ start: c.startTime, end: c.endTime, text: c.text })),
    errors: tree.errors.map((e) => ({ message: e.message, line: e.line })),
  });
}
console.log(JSON.stringify(out));
