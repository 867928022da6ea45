// Parses carrel's OPDS feeds with Readium's r2-opds-js (the OPDS code of
// Thorium Reader): OPDS 2.0 JSON through its ta-json models, OPDS 1.2 Atom
// through its XML mapper and its OPDS 1 → 2 converter. Prints, per feed, what
// the parser made of it, so the tests can compare it with what was served.
//   node opds_parse.mjs v2|v1 FILE...
// Prints JSON: [{title, numberOfItems, itemsPerPage, currentPage, links: [{rel, href, type}],
//   facets: [{title, links: [{title, href, count}]}], navigation: [{title, href, count}],
//   publications: [{title, identifier, authors, language, published, acquisitions: [{href, type}], images}]}]
import fs from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
require("reflect-metadata");
const { initGlobalConverters_OPDS, initGlobalConverters_GENERIC } = require("r2-opds-js/dist/es8-es2017/src/opds/init-globals");
const { OPDSFeed } = require("r2-opds-js/dist/es8-es2017/src/opds/opds2/opds2");
const { OPDS } = require("r2-opds-js/dist/es8-es2017/src/opds/opds1/opds");
const { convertOpds1ToOpds2 } = require("r2-opds-js/dist/es8-es2017/src/opds/converter");
const { TaJsonDeserialize } = require("r2-lcp-js/dist/es8-es2017/src/serializable");
const { XML } = require("r2-utils-js/dist/es8-es2017/src/_utils/xml-js-mapper");
const { DOMParser } = require("@xmldom/xmldom");

initGlobalConverters_GENERIC();
initGlobalConverters_OPDS();

const rels = (l) => (Array.isArray(l.Rel) ? l.Rel : l.Rel ? [l.Rel] : []);
const link = (l) => ({ rel: rels(l), href: l.Href, type: l.TypeLink, title: l.Title,
  count: l.Properties?.NumberOfItems ?? null });
const names = (cs) => (cs || []).map((c) => (typeof c.Name === "string" ? c.Name : Object.values(c.Name || {})[0]));

function summary(feed) {
  const m = feed.Metadata || {};
  return {
    title: m.Title,
    numberOfItems: m.NumberOfItems ?? null,
    itemsPerPage: m.ItemsPerPage ?? null,
    currentPage: m.CurrentPage ?? null,
    links: (feed.Links || []).map(link),
    facets: (feed.Facets || []).map((f) => ({ title: f.Metadata?.Title, links: (f.Links || []).map(link) })),
    navigation: (feed.Navigation || []).map(link),
    publications: (feed.Publications || []).map((p) => ({
      title: typeof p.Metadata.Title === "string" ? p.Metadata.Title : Object.values(p.Metadata.Title || {})[0],
      identifier: p.Metadata.Identifier ?? null,
      authors: names(p.Metadata.Author),
      language: p.Metadata.Language ?? null,
      published: p.Metadata.PublicationDate ? new Date(p.Metadata.PublicationDate).toISOString() : null,
      acquisitions: (p.Links || []).filter((l) => rels(l).some((r) => r.startsWith("http://opds-spec.org/acquisition"))).map(link),
      images: (p.Images || []).map(link),
    })),
  };
}

const [mode, ...files] = process.argv.slice(2);
const out = files.map((f) => {
  const text = fs.readFileSync(f, "utf8");
  if (mode === "v2") {
    return summary(TaJsonDeserialize(JSON.parse(text), OPDSFeed));
  }
  const errors = [];
  const doc = new DOMParser({ onError: (level, msg) => { if (level !== "warning") errors.push(msg); } })
    .parseFromString(text, "application/xml");
  if (errors.length) throw new Error(`${f}: ${errors.join("; ")}`);
  const opds1 = XML.deserialize(doc, OPDS);
  const s = summary(convertOpds1ToOpds2(opds1));
  s.opds1 = {
    title: opds1.Title, totalResults: opds1.OpensearchTotalResults ?? null,
    itemsPerPage: opds1.OpensearchItemsPerPage ?? null, startIndex: opds1.OpensearchStartIndex ?? null,
    entries: (opds1.Entries || []).length,
  };
  return s;
});
console.log(JSON.stringify(out));
