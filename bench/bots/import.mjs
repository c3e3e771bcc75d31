/* global process, performance, console */
/**
 * Time from process start to having imported one package (none: plain node
 * start-up, the floor), printed as one JSON line for the harness.
 */
const name = process.argv[2];
const before = performance.now();
if (name) await import(name);
const after = performance.now();
console.log(JSON.stringify({ startToImportedMs: after, importMs: after - before, rssMB: process.memoryUsage().rss / 2 ** 20 }));
