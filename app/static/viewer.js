// The viewer: one file under OUTPUT_DIR (?path=...), fetched from /api/results/ with the key.
// A result JSON shows its annotated image, its tables and the JSON; an image shows as itself;
// a report (report.html) shows in a sandboxed frame in which no script runs.
"use strict";

const IMAGE_TYPES = /\.(jpe?g|png|webp|gif|bmp)$/i;

function isResult(body) {
  return body && typeof body === "object" && Array.isArray(body.detections) && body.timings && body.image;
}

function download(blob, name) {
  return el("a", { href: URL.createObjectURL(blob), download: name }, "download");
}

async function showImage(url) {
  const blob = await api.blob(url);
  const img = byId("viewer-img");
  img.src = URL.createObjectURL(blob);
  img.alt = url;
  byId("viewer-image").hidden = false;
  return blob;
}

startPage(async () => {
  const path = new URLSearchParams(window.location.search).get("path") || "";
  const errorBox = byId("viewer-error");
  if (!path) {
    errorBox.textContent = "No file given: open one from the results page.";
    errorBox.hidden = false;
    return;
  }
  const url = resultUrl(path);
  const name = path.split("/").pop();
  byId("viewer-title").textContent = path;
  const links = byId("viewer-links");
  links.replaceChildren(el("a", { href: "/results" }, "all results"));
  try {
    if (IMAGE_TYPES.test(name)) {
      const blob = await showImage(url);
      links.append(" · ", download(blob, name));
      return;
    }
    const blob = await api.blob(url);
    links.append(" · ", download(blob, name));
    const text = await blob.text();
    if (name === "report.html" || name.endsWith(".html")) {
      const frame = byId("viewer-report");
      frame.srcdoc = text;
      frame.hidden = false;
      return;
    }
    let body = null;
    try {
      body = JSON.parse(text);
    } catch (err) {
      body = null;
    }
    if (!isResult(body)) {
      const pre = byId("viewer-text");
      pre.textContent = body === null ? text : JSON.stringify(body, null, 2);
      pre.hidden = false;
      return;
    }
    byId("viewer-title").textContent = `${path}: ${summary(body)}`;
    renderDetections(body);
    renderTimings(body);
    byId("viewer-json").textContent = JSON.stringify(body, null, 2);
    byId("viewer-record").hidden = false;
    if (body.annotated_image_url) {
      await showImage(body.annotated_image_url);
    }
  } catch (err) {
    showError(errorBox, err);
  }
});
