// Renders Mermaid diagrams with Mermaid itself, the way a browser does, and says for each
// whether it works: node render.mjs FILE.mmd...
//
// Mermaid needs a DOM: jsdom provides one. jsdom does no layout, so text is measured at a
// fixed width per character; the diagram's structure (the parser, the sequence renderer,
// every check they make) is Mermaid's own. Each file is checked against Mermaid's default
// configuration: its text size limit (maxTextSize, 50,000 characters) first, then
// mermaid.parse (syntax, activation balance), then mermaid.render (the SVG must not be
// Mermaid's error picture).
//
// Prints one JSON line per file: {"file", "ok", "chars", "width", "height", "error"}.
// Exit code: 0 when every file renders, 1 otherwise, 2 on bad usage.

import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node render.mjs FILE.mmd...');
  process.exit(2);
}

const dom = new JSDOM('<!DOCTYPE html><html><body></body></html>', {
  pretendToBeVisual: true,
  url: 'http://localhost/',
});
for (const key of Object.getOwnPropertyNames(dom.window)) {
  if (key in globalThis) continue;
  try {
    globalThis[key] = dom.window[key];
  } catch {
    // read-only globals of node stay as they are
  }
}
globalThis.window = dom.window;
globalThis.document = dom.window.document;

// No layout in jsdom: 8 px per character, 16 px per line.
const CHAR = 8;
const LINE = 16;
function measure(el) {
  const lines = (el.textContent || '').split('\n');
  const width = Math.max(...lines.map((l) => l.length)) * CHAR;
  return { x: 0, y: 0, width, height: lines.length * LINE };
}
dom.window.SVGElement.prototype.getBBox = function () {
  return measure(this);
};
dom.window.SVGElement.prototype.getComputedTextLength = function () {
  return measure(this).width;
};

const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });
const maxTextSize = mermaid.mermaidAPI.getConfig().maxTextSize;

let failed = 0;
let n = 0;
for (const file of files) {
  const result = { file, ok: false, chars: 0, width: 0, height: 0, error: null };
  try {
    const text = readFileSync(file, 'utf8');
    result.chars = text.length;
    if (text.length > maxTextSize) {
      throw new Error(`${text.length} characters: over Mermaid's maxTextSize (${maxTextSize})`);
    }
    await mermaid.parse(text);
    n += 1;
    const { svg } = await mermaid.render(`diagram${n}`, text);
    for (const sign of ['Syntax error', 'Maximum text size', 'aria-roledescription="error"']) {
      if (svg.includes(sign)) throw new Error(`Mermaid drew its error picture (${sign})`);
    }
    const box = /viewBox="([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+)"/.exec(svg);
    if (!box) throw new Error('the SVG has no viewBox');
    result.width = Math.round(Number(box[3]));
    result.height = Math.round(Number(box[4]));
    result.ok = true;
  } catch (e) {
    result.error = String(e && e.message ? e.message : e).split('\n').slice(0, 6).join(' | ');
    failed += 1;
  }
  console.log(JSON.stringify(result));
}
process.exit(failed === 0 ? 0 : 1);
