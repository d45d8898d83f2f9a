// Imported by harness.mjs BEFORE @electric-sql/client. The official client (1.5.28) keeps a
// module-level UpToDateTracker whose throttled localStorage save is a 60 s `setTimeout` that is
// never unref'd, so any Node process that saw two up-to-dates stays alive ~60 s after its work is
// done. Tests never use timers that long themselves, so unref every timer of >= 20 s (the save
// delay is 60 s minus the time since the last write; the client's 45 s live watchdog is caught
// too): the process then exits as soon as the tests finish (the skipped save is a no-op in Node,
// which has no localStorage).
const original = globalThis.setTimeout;
globalThis.setTimeout = function setTimeoutUnrefLong(fn, ms, ...args) {
  const t = original(fn, ms, ...args);
  if (typeof ms === 'number' && ms >= 20000 && typeof t?.unref === 'function') t.unref();
  return t;
};
