// inpaint serve's page: open a photo, paint the hole on a canvas, fill it through POST /api/fill.
// The mask is kept at the photo's full resolution as a list of strokes (undo/redo replay them);
// the view draws the photo, the paint in translucent red, and after a fill a before/after split.
// window.inpaint exposes the state, the last result, the mask and the fields sent for tests and scripts.
"use strict";

const $ = (id) => document.getElementById(id);
const view = $("view");
const ctx = view.getContext("2d");

const S = {
  photo: null, photoBlob: null, photoName: "photo.png", // what Fill sends: the opened photo, or the last result
  original: null, before: null,                          // {bitmap, blob}; the photo before the last fill
  mask: document.createElement("canvas"),                // full-resolution paint, red on transparent
  strokes: [], redo: [], stroke: null,
  scale: 1, ox: 0, oy: 0,                                // screen = image * scale + offset (CSS pixels)
  tool: "brush", panning: null, space: false,
  methods: [], busy: false,
};
const api = window.inpaint = { state: "empty", result: null, error: null, mask: () => maskPNG(), load: (b, n) => loadPhoto(b, n) };

function setState(state, text) {
  api.state = state;
  document.body.dataset.state = state;
  if (text !== undefined) $("status").textContent = text;
}

// ---- opening a photo -------------------------------------------------------------------------

async function loadPhoto(blob, name) {
  if (S.busy) { $("status").textContent = "A fill is running: open the next photo when it is done."; return; }
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob); // upright, as the server reads it (EXIF orientation applied)
  } catch (e) {
    setState("error", `${name}: this browser cannot open it as an image; choose a PNG, JPEG or WebP photo`);
    return;
  }
  S.original = { bitmap, blob, name };
  S.before = null;
  api.result = null;
  setPhoto(bitmap, blob, name);
  $("revert").hidden = true;
  $("compare-box").hidden = true;
  showVariations([]);
  fit();
  setState("ready", `${name}: ${bitmap.width}×${bitmap.height}. Paint over what should go, then Fill.`);
}

function setPhoto(bitmap, blob, name) {
  S.photo = bitmap;
  S.photoBlob = blob;
  S.photoName = name;
  if (S.mask.width !== bitmap.width || S.mask.height !== bitmap.height) {
    S.mask.width = bitmap.width;
    S.mask.height = bitmap.height;
  }
  S.strokes = [];
  S.redo = [];
  redrawMask();
  $("download").disabled = false;
}

$("file").addEventListener("change", (e) => {
  const f = e.target.files[0];
  if (f) loadPhoto(f, f.name);
  e.target.value = "";
});
document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
document.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("dragging");
  const f = e.dataTransfer.files[0];
  if (f) loadPhoto(f, f.name);
});

// ---- painting ----------------------------------------------------------------------------------

function drawStroke(c, s) {
  if (s.clear) { c.clearRect(0, 0, S.mask.width, S.mask.height); return; }
  c.save();
  c.globalCompositeOperation = s.erase ? "destination-out" : "source-over";
  c.strokeStyle = c.fillStyle = "rgb(255,0,0)";
  c.lineWidth = s.size;
  c.lineCap = c.lineJoin = "round";
  c.beginPath();
  const [x0, y0] = s.points[0];
  c.moveTo(x0, y0);
  if (s.points.length === 1) c.lineTo(x0 + 0.01, y0); // a dot
  for (const [x, y] of s.points.slice(1)) c.lineTo(x, y);
  c.stroke();
  c.restore();
}

function redrawMask() {
  const c = S.mask.getContext("2d");
  c.clearRect(0, 0, S.mask.width, S.mask.height);
  for (const s of S.strokes) drawStroke(c, s);
  updateButtons();
  render();
}

function painted() {
  let any = false;
  for (const s of S.strokes) any = s.clear ? false : any || !s.erase;
  return any;
}

function updateButtons() {
  $("undo").disabled = !S.strokes.length;
  $("redo").disabled = !S.redo.length;
  $("clear").disabled = !painted();
  $("fill").disabled = S.busy || !S.photo || !painted();
}

function toImage(e) {
  const r = view.getBoundingClientRect();
  return [(e.clientX - r.left - S.ox) / S.scale, (e.clientY - r.top - S.oy) / S.scale];
}

view.addEventListener("pointerdown", (e) => {
  if (!S.photo) return;
  view.setPointerCapture(e.pointerId);
  if (e.button === 1 || S.tool === "pan" || S.space) {
    S.panning = [e.clientX - S.ox, e.clientY - S.oy];
    return;
  }
  if (e.button !== 0 || S.busy) return;
  const size = Number($("brush").value) / S.scale; // the slider is in screen pixels
  S.stroke = { erase: S.tool === "eraser", size, points: [toImage(e)] };
  drawStroke(S.mask.getContext("2d"), S.stroke);
  render();
});

view.addEventListener("pointermove", (e) => {
  if (S.panning) {
    S.ox = e.clientX - S.panning[0];
    S.oy = e.clientY - S.panning[1];
    render();
  } else if (S.stroke) {
    const last = S.stroke.points[S.stroke.points.length - 1];
    const p = toImage(e);
    S.stroke.points.push(p);
    drawStroke(S.mask.getContext("2d"), { ...S.stroke, points: [last, p] });
    render();
  }
});

function endPointer() {
  if (S.stroke) {
    S.strokes.push(S.stroke);
    S.redo = [];
    S.stroke = null;
    updateButtons();
  }
  S.panning = null;
}
view.addEventListener("pointerup", endPointer);
view.addEventListener("pointercancel", endPointer);
view.addEventListener("contextmenu", (e) => e.preventDefault());

function undo() { if (S.strokes.length) { S.redo.push(S.strokes.pop()); redrawMask(); } }
function redo() { if (S.redo.length) { S.strokes.push(S.redo.pop()); redrawMask(); } }
$("undo").onclick = undo;
$("redo").onclick = redo;
$("clear").onclick = () => { S.strokes.push({ clear: true }); S.redo = []; redrawMask(); };

function setTool(tool) {
  S.tool = tool;
  document.body.dataset.tool = tool;
  for (const t of ["brush", "eraser", "pan"]) $(`tool-${t}`).classList.toggle("active", t === tool);
}
for (const t of ["brush", "eraser", "pan"]) $(`tool-${t}`).onclick = () => setTool(t);
$("brush").oninput = () => { $("brush-size").textContent = $("brush").value; };

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
  const k = e.key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && k === "z") { e.preventDefault(); e.shiftKey ? redo() : undo(); }
  else if ((e.ctrlKey || e.metaKey) && k === "y") { e.preventDefault(); redo(); }
  else if (k === " ") { S.space = true; e.preventDefault(); }
  else if (k === "b") setTool("brush");
  else if (k === "e") setTool("eraser");
  else if (k === "h") setTool("pan");
  else if (k === "[" || k === "]") {
    const b = $("brush");
    b.value = Math.max(4, Math.min(200, Number(b.value) * (k === "]" ? 1.25 : 0.8)));
    b.oninput();
  }
});
document.addEventListener("keyup", (e) => { if (e.key === " ") S.space = false; });

// ---- view: zoom, pan, drawing ------------------------------------------------------------------

function resize() {
  const r = view.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  view.width = Math.round(r.width * dpr);
  view.height = Math.round(r.height * dpr);
  render();
}

function fit() {
  if (!S.photo) return;
  const r = view.getBoundingClientRect();
  S.scale = Math.min(r.width / S.photo.width, r.height / S.photo.height, 1) || 1;
  S.ox = (r.width - S.photo.width * S.scale) / 2;
  S.oy = (r.height - S.photo.height * S.scale) / 2;
  render();
}

function zoomAt(factor, cx, cy) {
  const scale = Math.min(32, Math.max(0.02, S.scale * factor));
  S.ox = cx - (cx - S.ox) * (scale / S.scale);
  S.oy = cy - (cy - S.oy) * (scale / S.scale);
  S.scale = scale;
  render();
}

view.addEventListener("wheel", (e) => {
  e.preventDefault();
  const r = view.getBoundingClientRect();
  zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
}, { passive: false });
const centre = () => { const r = view.getBoundingClientRect(); return [r.width / 2, r.height / 2]; };
$("zoom-in").onclick = () => zoomAt(1.25, ...centre());
$("zoom-out").onclick = () => zoomAt(0.8, ...centre());
$("fit").onclick = fit;
$("compare").oninput = render;
new ResizeObserver(resize).observe(view); // the window, or the toolbars wrapping onto more lines

function render() {
  const dpr = window.devicePixelRatio || 1;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, view.width, view.height);
  if (!S.photo) return;
  ctx.setTransform(S.scale * dpr, 0, 0, S.scale * dpr, S.ox * dpr, S.oy * dpr);
  ctx.imageSmoothingEnabled = S.scale < 2; // zoomed in: see the pixels as they are
  ctx.drawImage(S.photo, 0, 0);
  const w = S.photo.width, h = S.photo.height;
  if (S.before && !$("compare-box").hidden) {
    const x = w * Number($("compare").value) / 1000; // the split follows the thumb: after left of it, before right
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, 0, w - x, h);
    ctx.clip();
    ctx.drawImage(S.before.bitmap, 0, 0);
    ctx.restore();
    ctx.fillStyle = "#fff";
    ctx.fillRect(x - 1 / S.scale, 0, 2 / S.scale, h);
  }
  ctx.globalAlpha = 0.45;
  ctx.drawImage(S.mask, 0, 0);
  ctx.globalAlpha = 1;
  $("zoom").textContent = `${Math.round(S.scale * 100)}%`;
}

// ---- filling -------------------------------------------------------------------------------------

async function maskPNG() {
  // white (255) where painted = the hole, black elsewhere, at the photo's size
  const { width, height } = S.mask;
  const out = document.createElement("canvas");
  out.width = width;
  out.height = height;
  const src = S.mask.getContext("2d").getImageData(0, 0, width, height).data;
  const o = out.getContext("2d");
  const img = o.createImageData(width, height);
  const d = img.data;
  for (let i = 0; i < d.length; i += 4) {
    const v = src[i + 3] >= 128 ? 255 : 0;
    d[i] = d[i + 1] = d[i + 2] = v;
    d[i + 3] = 255;
  }
  o.putImageData(img, 0, 0);
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

async function loadMethods() {
  try {
    const r = await fetch("/api/methods");
    const body = await r.json();
    S.methods = body.methods;
    const sel = $("method");
    sel.innerHTML = "";
    for (const kind of ["pretrained", "trained", "baseline"]) {
      const group = document.createElement("optgroup");
      group.label = { pretrained: "Shipped models", trained: "Trained here", baseline: "Classical" }[kind];
      for (const m of body.methods.filter((m) => m.kind === kind)) {
        const o = document.createElement("option");
        o.value = o.textContent = m.name;
        group.appendChild(o);
      }
      if (group.children.length) sel.appendChild(group);
    }
    if (body.default) sel.value = body.default;
    methodChanged();
  } catch (e) {
    setState("error", "the server did not answer /api/methods; is `inpaint serve` still running?");
  }
}

function methodChanged() {
  const m = S.methods.find((m) => m.name === $("method").value);
  $("variations-box").hidden = $("seed-box").hidden = !(m && m.samples);
  $("delattice-box").hidden = !(m && m.kind !== "baseline"); // the filter is for network methods only
}
$("method").onchange = methodChanged;

function fill() {
  if (S.busy || !S.photo) return;
  const method = $("method").value;
  const sampling = !$("variations-box").hidden;
  maskPNG().then((maskBlob) => {
    api.lastMask = maskBlob;
    const form = new FormData();
    form.append("photo", S.photoBlob, S.photoName);
    form.append("mask", maskBlob, "mask.png");
    form.append("method", method);
    form.append("format", "png"); // lossless, so a second fill starts from exactly this result
    if (sampling) {
      form.append("samples", $("samples").value);
      form.append("seed", $("seed").value);
    }
    if (!$("delattice-box").hidden) form.append("delattice", $("delattice").checked ? "on" : "off");
    form.append("detail", $("detail").checked ? "on" : "off");
    api.lastFields = Object.fromEntries([...form].filter(([, v]) => typeof v === "string"));
    send(form, method);
  });
}
$("fill").onclick = fill;

function send(form, method) {
  S.busy = true;
  updateButtons();
  const t0 = performance.now();
  const bar = $("progress");
  bar.hidden = false;
  bar.value = 0;
  setState("filling", "Uploading…");
  let poll = null;
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/fill");
  xhr.responseType = "blob";
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = 0.3 * e.loaded / e.total; };
  xhr.upload.onload = () => {
    bar.removeAttribute("value"); // indeterminate while the server fills
    $("status").textContent = `Filling with ${method}…`;
    poll = setInterval(async () => {
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      let ahead = "";
      try {
        const q = await (await fetch("/api/queue")).json();
        if (q.queued > 1) ahead = ` (${q.queued - 1} other fill${q.queued > 2 ? "s" : ""} in the queue)`;
      } catch (e) { /* the fill's own answer will tell */ }
      if (S.busy) $("status").textContent = `Filling with ${method}… ${secs} s${ahead}`;
    }, 500);
  };
  const done = () => { clearInterval(poll); S.busy = false; bar.hidden = true; updateButtons(); };
  xhr.onerror = () => { done(); setState("error", "the server did not answer; is `inpaint serve` still running?"); };
  xhr.onload = async () => {
    done();
    const type = xhr.getResponseHeader("Content-Type") || "";
    if (xhr.status !== 200) {
      let message = `error ${xhr.status}`;
      try { message = JSON.parse(await xhr.response.text()).error || message; } catch (e) { /* not JSON */ }
      api.error = message;
      setState("error", message);
      return;
    }
    const secs = xhr.getResponseHeader("X-Inpaint-Seconds");
    const warning = xhr.getResponseHeader("X-Inpaint-Warning");
    const note = `Filled with ${method} in ${Number(secs).toFixed(1)} s.${warning ? " " + warning : ""} ` +
                 "Paint again to fill more; drag Before/After to compare.";
    if (type.startsWith("application/json")) {
      const body = JSON.parse(await xhr.response.text());
      const blobs = body.images.map((b64) => new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))],
                                                      { type: `image/${body.format === "jpg" ? "jpeg" : body.format}` }));
      await showResult(blobs[0]);
      showVariations(blobs, body.seeds);
    } else {
      await showResult(xhr.response);
      showVariations([]);
    }
    setState("filled", note);
  };
  xhr.send(form);
}

async function showResult(blob, keepBefore) {
  const bitmap = await createImageBitmap(blob);
  if (!keepBefore) S.before = { bitmap: S.photo, blob: S.photoBlob };
  const stem = S.original.name.replace(/\.[^.]*$/, "");
  setPhoto(bitmap, blob, `${stem}-filled.png`);
  api.result = blob;
  $("compare-box").hidden = false;
  $("compare").value = 1000;
  $("revert").hidden = false;
  render();
}

function showVariations(blobs, seeds) {
  const strip = $("variations");
  for (const img of strip.children) URL.revokeObjectURL(img.src);
  strip.innerHTML = "";
  strip.hidden = blobs.length < 2;
  blobs.forEach((blob, k) => {
    const img = document.createElement("img");
    img.src = URL.createObjectURL(blob);
    img.title = `seed ${seeds[k]}`;
    img.alt = `fill ${k + 1}`;
    if (k === 0) img.classList.add("chosen");
    img.onclick = async () => {
      for (const other of strip.children) other.classList.toggle("chosen", other === img);
      await showResult(blob, true);
    };
    strip.appendChild(img);
  });
}

$("revert").onclick = () => {
  if (S.busy) return;
  const o = S.original;
  S.before = null;
  api.result = null;
  setPhoto(o.bitmap, o.blob, o.name);
  $("compare-box").hidden = true;
  $("revert").hidden = true;
  showVariations([]);
  setState("ready", `${o.name}: back to the photo as opened.`);
};

$("download").onclick = async () => {
  const fmt = $("download-format").value;
  const stem = S.photoName.replace(/\.[^.]*$/, "").replace(/-filled$/, "") + (api.result ? "-filled" : "");
  let blob = S.photoBlob;
  if (blob.type !== `image/${fmt}`) { // re-encode at full resolution
    const c = document.createElement("canvas");
    c.width = S.photo.width;
    c.height = S.photo.height;
    c.getContext("2d").drawImage(S.photo, 0, 0);
    blob = await new Promise((resolve) => c.toBlob(resolve, `image/${fmt}`, 0.95));
  }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${stem}.${fmt === "jpeg" ? "jpg" : fmt}`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
};

setTool("brush");
resize();
loadMethods();
