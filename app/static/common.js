// Shared by every page of the node: the API key, requests to /api/*, readable errors, the access check,
// and the tables of a result (detections, timings). Plain JavaScript, no build step, no library.
"use strict";

const KEY_STORE = "objdet-api-key";
const RESULTS_PREFIX = "/api/results/";

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function byId(id) {
  return document.getElementById(id);
}

// A new element with text or child nodes; attrs are set as attributes (never as HTML).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const api = {
  key() {
    try {
      return sessionStorage.getItem(KEY_STORE) || "";
    } catch (err) {
      return "";
    }
  },
  setKey(key) {
    sessionStorage.setItem(KEY_STORE, key);
  },
  forgetKey() {
    sessionStorage.removeItem(KEY_STORE);
  },
  // fetch with the key; an answer that is not 2xx becomes an ApiError with the node's own message.
  async fetch(url, options = {}) {
    const headers = new Headers(options.headers || {});
    const key = api.key();
    if (key) {
      headers.set("X-API-Key", key);
    }
    let response;
    try {
      response = await fetch(url, { ...options, headers, cache: "no-store" });
    } catch (err) {
      throw new ApiError(0, "network", `could not reach the node (${err.message})`);
    }
    if (!response.ok) {
      throw await errorOf(response);
    }
    return response;
  },
  async json(url, options) {
    const response = await api.fetch(url, options);
    try {
      return await response.json();
    } catch (err) {
      throw new ApiError(response.status, "bad_answer", "the node's answer is not valid JSON");
    }
  },
  async blob(url) {
    const response = await api.fetch(url);
    return response.blob();
  },
};

// The error's message from the node's JSON ({"error": {"code", "message"}}), or a sentence for other answers
// (gunicorn answers some malformed requests with its own HTML page before the app sees them).
async function errorOf(response) {
  let text = "";
  try {
    text = await response.text();
  } catch (err) {
    // no body
  }
  try {
    const body = JSON.parse(text);
    if (body && body.error && typeof body.error.message === "string" && body.error.message) {
      return new ApiError(response.status, String(body.error.code || ""), body.error.message);
    }
  } catch (err) {
    // not JSON
  }
  const reason = response.statusText ? ` ${response.statusText}` : "";
  return new ApiError(response.status, "", `the node answered HTTP ${response.status}${reason}`);
}

function describeError(err) {
  if (err instanceof ApiError) {
    const where = err.status ? ` (HTTP ${err.status}${err.code ? ", " + err.code : ""})` : "";
    return `${err.message}${where}`;
  }
  return `Something went wrong in the page: ${err && err.message ? err.message : err}`;
}

function showError(element, err) {
  element.textContent = describeError(err);
  element.hidden = false;
}

function hideError(element) {
  element.textContent = "";
  element.hidden = true;
}

// "/api/results/a%20b/x.jpg.json" -> "a b/x.jpg.json" (the viewer's ?path=), or "" for another URL.
function resultPath(url) {
  if (typeof url !== "string" || !url.startsWith(RESULTS_PREFIX)) {
    return "";
  }
  return url.slice(RESULTS_PREFIX.length).split("/").map(decodeURIComponent).join("/");
}

function resultUrl(path) {
  return RESULTS_PREFIX + path.split("/").map(encodeURIComponent).join("/");
}

function viewerLink(path, text) {
  return el("a", { href: "/results/view?path=" + encodeURIComponent(path) }, text);
}

// The detection rows exactly as the JSON has them: label, score, box.
function renderDetections(record) {
  const body = document.querySelector("#detections tbody");
  body.replaceChildren();
  record.detections.forEach((d, i) => {
    body.append(
      el(
        "tr",
        {},
        el("td", { class: "index" }, i + 1),
        el("td", { class: "label" }, d.label),
        el("td", { class: "score num" }, String(d.score)),
        el("td", { class: "box num" }, "[" + d.box.map(String).join(", ") + "]"),
      ),
    );
  });
  byId("no-detections").hidden = record.detections.length > 0;
}

// Every stage the node timed (whatever stages it reports), then what the browser measured.
function renderTimings(record, roundTrip) {
  const body = document.querySelector("#timings tbody");
  body.replaceChildren();
  for (const [stage, seconds] of Object.entries(record.timings)) {
    body.append(el("tr", { "data-stage": stage }, el("td", {}, stage), el("td", { class: "num" }, String(seconds))));
  }
  if (roundTrip !== undefined) {
    // Browsers coarsen performance.now() to about 0.1 ms: four decimals are all it measures.
    const other = roundTrip - record.timings.total;
    body.append(
      el(
        "tr",
        { "data-stage": "round_trip", class: "browser" },
        el("td", {}, "round trip, measured in the browser"),
        el("td", { class: "num" }, roundTrip.toFixed(4)),
      ),
      el(
        "tr",
        { "data-stage": "outside_node", class: "browser" },
        el("td", {}, "round trip − total (upload, HTTP, waiting)"),
        el("td", { class: "num" }, other.toFixed(4)),
      ),
    );
  }
}

function summary(record) {
  const found = record.objects_found === 1 ? "1 object" : `${record.objects_found} objects`;
  return `${found} · ${record.image.width}×${record.image.height} px · ${record.model.family} · node ${record.node}`;
}

// Checks that /api/* answers (asking for the key when the node wants one), then runs the page's own code.
// Until then the page shows nothing but the key form: no data is ever fetched without the key.
async function startPage(run) {
  const panel = byId("key-panel");
  const content = byId("content");
  const pageError = byId("page-error");
  const keyError = byId("key-error");
  const keyInput = byId("key-input");
  const forget = byId("forget-key");
  forget.addEventListener("click", () => {
    api.forgetKey();
    window.location.reload();
  });
  let started = false;

  async function attempt() {
    let info;
    try {
      info = await api.json("/api/info");
    } catch (err) {
      if (err.status === 401) {
        if (api.key()) {
          keyError.textContent = `The node refused this key: ${err.message}`;
          keyError.hidden = false;
          api.forgetKey();
        }
        content.hidden = true;
        panel.hidden = false;
        keyInput.value = "";
        keyInput.focus();
        return;
      }
      showError(pageError, err);
      return;
    }
    panel.hidden = true;
    hideError(keyError);
    hideError(pageError);
    content.hidden = false;
    forget.hidden = !api.key();
    byId("node-info").textContent = `${info.node} · ${info.model.handle} · model ${info.model.state}`;
    if (started) {
      return;
    }
    started = true;
    try {
      await run(info);
    } catch (err) {
      showError(pageError, err);
    }
  }

  byId("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (key) {
      api.setKey(key);
      attempt();
    }
  });
  await attempt();
}
