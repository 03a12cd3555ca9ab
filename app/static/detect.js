// The "try it" page: pick or drop an image, POST it to /api/detect as a multipart upload, show the result.
"use strict";

const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"];

startPage(async (info) => {
  const form = byId("detect-form");
  const input = byId("image-input");
  const drop = byId("drop-zone");
  const output = byId("output-input");
  const button = byId("detect-button");
  const errorBox = byId("detect-error");
  let chosen = null;

  // The model chooser stays hidden until a node lists more than one model in /api/info.
  const models = Array.isArray(info.models) ? info.models : [];
  const modelField = byId("model-field");
  const modelSelect = byId("model-select");
  if (models.length > 1) {
    for (const model of models) {
      const name = typeof model === "string" ? model : model.name || model.handle;
      modelSelect.append(el("option", { value: name }, name));
    }
    modelField.hidden = false;
  }

  function choose(file) {
    chosen = file || null;
    byId("chosen").textContent = chosen ? `${chosen.name} (${chosen.size} bytes)` : "No image chosen.";
    hideError(errorBox);
  }

  input.addEventListener("change", () => choose(input.files[0]));
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      choose(event.dataTransfer.files[0]);
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    hideError(errorBox);
    if (!chosen) {
      errorBox.textContent = "Choose or drop an image first.";
      errorBox.hidden = false;
      return;
    }
    const body = new FormData();
    body.append("image", chosen, chosen.name);
    body.append("output", output.checked ? "1" : "0");
    if (!modelField.hidden) {
      body.append("model", modelSelect.value);
    }
    button.disabled = true;
    byId("busy").hidden = false;
    byId("result").hidden = true;
    try {
      const started = performance.now();
      const record = await api.json("/api/detect", { method: "POST", body });
      const roundTrip = (performance.now() - started) / 1000;
      await show(record, roundTrip, chosen);
    } catch (err) {
      showError(errorBox, err);
    } finally {
      button.disabled = false;
      byId("busy").hidden = true;
    }
  });
});

async function show(record, roundTrip, file) {
  byId("result-summary").textContent = summary(record);
  renderDetections(record);
  renderTimings(record, roundTrip);
  const links = byId("result-links");
  links.replaceChildren(
    viewerLink(resultPath(record.result_url), "the result on its own page"),
    " · ",
    el("span", { class: "muted" }, `request ${record.request_id || ""}`),
  );
  byId("result").hidden = false;
  const img = byId("annotated");
  const canvas = byId("drawn");
  const note = byId("figure-note");
  img.hidden = true;
  canvas.hidden = true;
  if (img.src) {
    URL.revokeObjectURL(img.src);
  }
  if (record.annotated_image_url) {
    // The annotated copy the node saved (fetched with the key: an <img src> cannot send it).
    const blob = await api.blob(record.annotated_image_url);
    await loadImage(img, URL.createObjectURL(blob));
    img.hidden = false;
    note.textContent = `The annotated image the node saved (${record.annotated_image_url}).`;
  } else {
    // No image was saved (output=0): the page draws the boxes on the chosen file itself.
    const local = new Image();
    const url = URL.createObjectURL(file);
    try {
      await loadImage(local, url);
      drawBoxes(canvas, local, record.detections);
    } finally {
      URL.revokeObjectURL(url);
    }
    canvas.hidden = false;
    note.textContent = "Drawn by this page from the detections (the node saved no image: output was off).";
  }
}

function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser could not show the image"));
    img.src = url;
  });
}

function drawBoxes(canvas, image, detections) {
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const line = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
  ctx.lineWidth = line;
  ctx.font = `${Math.max(12, line * 6)}px sans-serif`;
  ctx.textBaseline = "top";
  detections.forEach((d, i) => {
    const [ymin, xmin, ymax, xmax] = d.box;
    const x = xmin * canvas.width;
    const y = ymin * canvas.height;
    const colour = COLOURS[i % COLOURS.length];
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, (xmax - xmin) * canvas.width, (ymax - ymin) * canvas.height);
    const text = `${d.label}: ${Math.round(d.score * 100)}%`;
    const width = ctx.measureText(text).width + 2 * line;
    const height = Math.max(12, line * 6) + line;
    ctx.fillStyle = colour;
    ctx.fillRect(x, Math.max(0, y - height), width, height);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + line, Math.max(0, y - height) + line / 2);
  });
}
