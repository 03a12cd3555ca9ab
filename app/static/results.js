// The results page: reports and result JSON under OUTPUT_DIR from GET /api/results, newest first, paged.
"use strict";

const DEFAULT_LIMIT = 20;

function pageParams() {
  const query = new URLSearchParams(window.location.search);
  const offset = Math.max(0, parseInt(query.get("offset") || "0", 10) || 0);
  const limit = Math.min(100, Math.max(1, parseInt(query.get("limit") || String(DEFAULT_LIMIT), 10) || DEFAULT_LIMIT));
  return { offset, limit };
}

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

function kilobytes(size) {
  return size < 1024 ? `${size} B` : `${(size / 1024).toFixed(1)} kB`;
}

async function showReports() {
  const listing = await api.json("/api/results?kind=report&limit=100");
  const body = document.querySelector("#reports tbody");
  body.replaceChildren();
  for (const item of listing.items) {
    body.append(
      el(
        "tr",
        {},
        el("td", { class: "when" }, el("time", { datetime: item.modified }, when(item.modified))),
        el("td", {}, viewerLink(item.path, item.path)),
        el("td", { class: "num" }, kilobytes(item.size)),
      ),
    );
  }
  byId("reports").hidden = listing.items.length === 0;
  byId("no-reports").hidden = listing.items.length > 0;
}

async function showResults() {
  const { offset, limit } = pageParams();
  const listing = await api.json(`/api/results?kind=result&offset=${offset}&limit=${limit}`);
  const body = document.querySelector("#results tbody");
  body.replaceChildren();
  for (const item of listing.items) {
    const image = resultPath(item.annotated_image_url);
    body.append(
      el(
        "tr",
        { "data-path": item.path },
        el("td", { class: "when" }, el("time", { datetime: item.modified }, when(item.modified))),
        el("td", { class: "path" }, viewerLink(item.path, item.path)),
        el("td", { class: "num" }, item.objects_found === null ? "–" : item.objects_found),
        el("td", {}, item.labels.join(", ")),
        el("td", {}, image ? viewerLink(image, "image") : el("span", { class: "muted" }, "not saved")),
      ),
    );
  }
  const count = byId("results-count");
  if (listing.total === 0) {
    count.textContent = "No result JSON under the node's output folder yet.";
  } else if (listing.items.length === 0) {
    count.textContent = `Nothing at ${offset + 1}: there are ${listing.total} results.`;
  } else {
    const last = offset + listing.items.length;
    count.textContent = `Results ${offset + 1} to ${last} of ${listing.total}, newest first.`;
  }
  byId("results").hidden = listing.items.length === 0;
  const newer = byId("newer");
  const older = byId("older");
  newer.hidden = offset === 0;
  newer.href = `?offset=${Math.max(0, offset - limit)}&limit=${limit}`;
  older.hidden = offset + listing.items.length >= listing.total;
  older.href = `?offset=${offset + limit}&limit=${limit}`;
}

startPage(async () => {
  await Promise.all([showReports(), showResults()]);
});
