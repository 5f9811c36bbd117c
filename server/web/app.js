// clipdex search page: plain JavaScript against the server's own API.
// Text search, "more like this" on click, uploads when the server has a token.
"use strict";

const $ = (id) => document.getElementById(id);
const K = 24;

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

async function api(path, body, headers) {
  const res = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: Object.assign({ "Content-Type": "application/json" }, headers || {}),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const msg = data && data.error ? data.error.code + ": " + data.error.message : "HTTP " + res.status;
    throw new Error(msg);
  }
  return data;
}

function render(results) {
  const grid = $("results");
  grid.replaceChildren();
  for (const r of results) {
    const card = document.createElement("figure");
    card.className = "card";
    card.dataset.id = r.id;
    const img = document.createElement("img");
    img.src = "/v1/items/" + r.id + "/thumbnail";
    img.alt = r.caption || r.uri || "item " + r.id;
    img.loading = "lazy";
    img.title = "more like this";
    img.addEventListener("click", () => search({ item_id: r.id }, "more like item " + r.id));
    const meta = document.createElement("figcaption");
    meta.className = "meta";
    const cap = document.createElement("span");
    cap.className = "caption";
    cap.textContent = r.caption || r.uri || "";
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = r.score.toFixed(3);
    meta.append(cap, score);
    card.append(img, meta);
    grid.append(card);
  }
}

async function search(query, label) {
  setStatus("searching " + label + " ...");
  try {
    const data = await api("/v1/search", Object.assign({ k: K }, query));
    render(data.results);
    const t = data.timings_ms;
    setStatus(data.results.length + " results for " + label + " in " + t.total.toFixed(1) + " ms (queue " +
      t.queue.toFixed(1) + ", encode " + t.encode.toFixed(1) + ", search " + t.search.toFixed(1) + ", fetch " +
      t.fetch.toFixed(1) + ")");
  } catch (e) {
    setStatus(e.message, true);
  }
}

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = $("q").value.trim();
  if (q) search({ text: q }, JSON.stringify(q));
});

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const fr = new FileReader();
    fr.onload = () => resolve(String(fr.result).replace(/^data:[^,]*,/, ""));
    fr.onerror = () => reject(fr.error);
    fr.readAsDataURL(file);
  });
}

$("upload-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("file").files[0];
  if (!file) return;
  try {
    const body = { image: await readBase64(file) };
    const caption = $("caption").value.trim();
    if (caption) body.caption = caption;
    const data = await api("/v1/items", body, { Authorization: "Bearer " + $("token").value });
    setStatus("added item " + data.id);
    search({ item_id: data.id }, "more like item " + data.id);
  } catch (e) {
    setStatus(e.message, true);
  }
});

api("/v1/info").then((info) => {
  if (info.contract) $("model").textContent = info.contract.id + " (" + info.contract.family + ", " + info.contract.dim + "-d)";
  if (info.limits && info.limits.uploads) $("upload").hidden = false;
}).catch((e) => setStatus(e.message, true));
