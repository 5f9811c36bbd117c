// Loads a page in headless Chromium over the DevTools protocol and reports
// what a person would notice: console errors, uncaught exceptions, failed
// loads, and the value of a check expression evaluated in the page.
//
//   node --experimental-websocket tests/browser/check_page.mjs URL [--expr JS] [--screenshot F.png]
//        [--timeout-ms N]
//
// Prints one JSON object {errors: [...], result: <value of --expr>} and exits
// 0 when there were no errors, 1 when there were, 2 when the browser could
// not be driven. Chromium comes from Debian (tools/bootstrap --browser);
// CHROMIUM overrides the binary. No npm package is needed: Node's WebSocket
// speaks the protocol.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
const url = args[0];
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i > 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const expr = opt("--expr", "document.title");
const shot = opt("--screenshot", null);
const timeoutMs = Number(opt("--timeout-ms", "30000"));
if (!url) {
  console.error("usage: check_page.mjs URL [--expr JS] [--screenshot F.png] [--timeout-ms N]");
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), "cdx-chromium-"));
const chrome = spawn(process.env.CHROMIUM || "chromium", [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage", `--user-data-dir=${profile}`, "--remote-debugging-port=0",
  "--window-size=1400,1000", "about:blank",
], { stdio: ["ignore", "ignore", "pipe"] });
let chromeLog = "";
chrome.stderr.on("data", (d) => { chromeLog += d; });

// Once: the verdict decides the exit code. Chromium's helper processes may
// still write into the profile for a moment after the kill, so removing it
// retries and, if it still fails, leaves the directory rather than turning a
// passing check into a crash.
let finished = false;
function finish(code, out) {
  if (finished) return;
  finished = true;
  try { chrome.kill("SIGKILL"); } catch { /* already gone */ }
  if (out) console.log(JSON.stringify(out, null, 1));
  setTimeout(() => {
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (e) {
      console.error(`check_page: could not remove ${profile}: ${e.code || e}`);
    }
    process.exit(code);
  }, 200);
}
const deadline = setTimeout(() => {
  console.error(`check_page: timed out after ${timeoutMs} ms; chromium said:\n${chromeLog.slice(-2000)}`);
  finish(2);
}, timeoutMs);
chrome.on("exit", (code) => {
  if (finished) return;
  console.error(`check_page: chromium exited (${code}):\n${chromeLog.slice(-2000)}`);
  finish(2);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function browserWsUrl() {
  const file = join(profile, "DevToolsActivePort");
  for (;;) {
    if (existsSync(file)) {
      const [port, path] = readFileSync(file, "utf8").split("\n");
      if (port && path) return `ws://127.0.0.1:${port}${path}`;
    }
    await sleep(50);
  }
}

async function main() {
  const ws = new WebSocket(await browserWsUrl());
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error("websocket")); });
  let next = 1;
  const pending = new Map();
  const listeners = [];
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && pending.has(msg.id)) {
      const { res, rej } = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? rej(new Error(`${msg.error.message}`)) : res(msg.result);
    } else {
      for (const l of listeners) l(msg);
    }
  };
  const send = (method, params = {}, sessionId) => new Promise((res, rej) => {
    const id = next++;
    pending.set(id, { res, rej });
    ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
  });

  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  const errors = [];
  let loaded;
  const load = new Promise((r) => { loaded = r; });
  listeners.push((msg) => {
    if (msg.sessionId !== sessionId) return;
    const p = msg.params || {};
    if (msg.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert"))
      errors.push(`console.${p.type}: ${(p.args || []).map((a) => a.value ?? a.description).join(" ")}`);
    else if (msg.method === "Runtime.exceptionThrown")
      errors.push(`exception: ${p.exceptionDetails?.exception?.description || p.exceptionDetails?.text}`);
    else if (msg.method === "Log.entryAdded" && p.entry?.level === "error")
      errors.push(`log: ${p.entry.text}${p.entry.url ? " (" + p.entry.url + ")" : ""}`);
    else if (msg.method === "Network.loadingFailed" && !p.canceled)
      errors.push(`load failed: ${p.errorText}`);
    else if (msg.method === "Page.loadEventFired") loaded();
  });
  for (const domain of ["Runtime", "Log", "Page", "Network"]) await send(`${domain}.enable`, {}, sessionId);
  const nav = await send("Page.navigate", { url }, sessionId);
  if (nav.errorText) errors.push(`navigate: ${nav.errorText}`);
  await load;
  await sleep(300); // late console messages and layout
  const ev = await send("Runtime.evaluate", { expression: expr, returnByValue: true, awaitPromise: true }, sessionId);
  if (ev.exceptionDetails) errors.push(`check expression: ${ev.exceptionDetails.exception?.description || ev.exceptionDetails.text}`);
  if (shot) {
    const { data } = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: false }, sessionId);
    writeFileSync(shot, Buffer.from(data, "base64"));
  }
  clearTimeout(deadline);
  chrome.removeAllListeners("exit");
  finish(errors.length ? 1 : 0, { errors, result: ev.result?.value ?? null });
}

main().catch((e) => {
  console.error(`check_page: ${e.message}\n${chromeLog.slice(-2000)}`);
  finish(2);
});
