// genlab serve: one page over the runs the server was started with.
// The server says what each run offers (its summary's "features"); every feature is one panel
// of the run's template (index.html) and one function in PANELS below. A new kind of run adds
// its sections to a template and its functions here.
"use strict";

const $ = (root, selector) => root.querySelector(selector);
const out = (root, name) => $(root, `[data-out="${name}"]`);

// fetch JSON; a 4xx/5xx answer becomes an Error carrying the server's one-line message
async function api(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error("the server does not answer (was it stopped?)");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    throw new Error(`the server answered ${response.status} without JSON`);
  }
  if (!response.ok) throw new Error(data.error || `error ${response.status}`);
  return data;
}

function showError(panel, err) {
  const box = $(panel, ".error");
  box.textContent = err ? err.message : "";
  box.hidden = !err;
}

// run `task` for a panel: its error line shows what went wrong, or hides on success
async function guarded(panel, task) {
  panel.classList.add("busy");
  try {
    await task();
    showError(panel, null);
  } catch (err) {
    showError(panel, err);
  } finally {
    panel.classList.remove("busy");
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function figure(src, caption, className) {
  const fig = element("figure");
  const img = element("img", `pixelated ${className || ""}`);
  img.src = src;
  img.alt = caption;
  fig.append(img, element("figcaption", "", caption));
  return fig;
}

function runUrl(run, action, params) {
  const query = params ? "?" + new URLSearchParams(params) : "";
  return `/api/runs/${encodeURIComponent(run.name)}/${action}${query}`;
}

function tooLarge(file, run) {
  const cap = run.limits.upload_bytes;
  if (file.size <= cap) return null;
  return new Error(`the file is ${(file.size / 2 ** 20).toFixed(1)} MB; ${cap / 2 ** 20} MB at most`);
}

// keep one request in flight; while it runs only the newest pending call is kept (slider drags)
function latestOnly(call) {
  let running = false;
  let pending = null;
  return async function request(...args) {
    if (running) {
      pending = args;
      return;
    }
    running = true;
    try {
      await call(...args);
    } finally {
      running = false;
      if (pending) {
        const next = pending;
        pending = null;
        request(...next);
      }
    }
  };
}

const PANELS = {
  sample(panel, run) {
    const form = $(panel, "form");
    const grid = out(panel, "grid");
    if (run.condition) {
      panel.querySelectorAll(".ask").forEach((el) => (el.hidden = false));
      const names = $(panel, "datalist");
      names.replaceChildren(...run.condition.names.map((name) => new Option(name)));
    }
    const draw = () =>
      guarded(panel, async () => {
        const params = { n: form.n.value, seed: form.seed.value };
        if (run.condition && form.ask.value.trim()) params.ask = form.ask.value;
        const data = await api(runUrl(run, "sample", params));
        grid.src = data.image;
        grid.dataset.seed = data.seed;
        grid.alt = data.asked ? `samples asked for ${data.asked}` : "a grid of samples";
      });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      draw();
    });
    form.random.addEventListener("click", () => {
      form.seed.value = Math.floor(Math.random() * 100000);
      draw();
    });
    draw();
  },

  interpolate(panel, run) {
    const form = $(panel, "form");
    const slider = $(panel, 'input[type="range"]');
    const shown = out(panel, "image");
    const walk = latestOnly(() =>
      guarded(panel, async () => {
        const t = slider.value / 100;
        const params = { a: form.a.value, b: form.b.value, t, mode: form.mode.value };
        const data = await api(runUrl(run, "interpolate", params));
        out(panel, "start").src = data.start;
        out(panel, "end").src = data.end;
        shown.src = data.image;
        shown.dataset.t = data.t;
        out(panel, "t").textContent = `t = ${data.t.toFixed(2)} (${data.mode})`;
      })
    );
    slider.addEventListener("input", () => walk());
    form.addEventListener("change", () => walk());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      walk();
    });
    walk();
  },

  denoise(panel, run) {
    const form = $(panel, "form");
    const slider = $(panel, 'input[type="range"]');
    form.steps.value = run.sample_steps;
    form.steps.max = run.limits.steps;
    let frames = [];
    const showFrame = () => {
      const frame = frames[Number(slider.value)];
      if (!frame) return;
      out(panel, "state").src = frame.state;
      out(panel, "guess").src = frame.guess;
      const step = Number(slider.value);
      out(panel, "t").textContent = `t = ${frame.t.toFixed(2)}, step ${step} of ${frames.length - 1}`;
    };
    const draw = () =>
      guarded(panel, async () => {
        const data = await api(runUrl(run, "denoise", { seed: form.seed.value, steps: form.steps.value }));
        frames = data.frames;
        slider.max = frames.length - 1;
        slider.value = 0;
        showFrame();
      });
    slider.addEventListener("input", showFrame);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      draw();
    });
    draw();
  },

  reconstruct(panel, run) {
    const input = $(panel, 'input[type="file"]');
    input.addEventListener("change", () =>
      guarded(panel, async () => {
        const file = input.files[0];
        if (!file) return;
        const error = tooLarge(file, run);
        if (error) throw error;
        const data = await api(runUrl(run, "reconstruct", { k: 8 }), { method: "POST", body: file });
        out(panel, "original").src = data.original;
        out(panel, "reconstruction").src = data.reconstruction;
        out(panel, "mse").textContent = `reconstruction (MSE ${data.mse.toFixed(4)})`;
        out(panel, "neighbours-from").textContent = data.neighbours.length
          ? `Nearest in the latent space, among ${data.neighbours_from}:`
          : `No neighbours: ${data.neighbours_from}`;
        out(panel, "neighbours").replaceChildren(
          ...data.neighbours.map((n) => figure(n.image, `distance ${n.distance.toFixed(2)}`))
        );
      })
    );
  },

  ask(panel, run) {
    const form = $(panel, "form");
    form.q.placeholder = run.example;
    form.q.maxLength = run.limits.query_chars;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(panel, async () => {
        const data = await api(runUrl(run, "ask", { q: form.q.value }));
        showAnswer(out(panel, "result"), data, "typed");
      });
    });
  },

  read(panel, run) {
    const pad = drawingPad($(panel, ".pad"), run.query_len);
    const send = (body) =>
      guarded(panel, async () => {
        const data = await api(runUrl(run, "read"), { method: "POST", body });
        showAnswer(out(panel, "result"), data, "drawn");
      });
    panel.querySelector('button[name="answer"]').addEventListener("click", () => pad.png().then(send));
    panel.querySelector('button[name="clear"]').addEventListener("click", () => {
      pad.clear();
      out(panel, "result").replaceChildren();
      showError(panel, null);
    });
    const input = $(panel, 'input[type="file"]');
    input.addEventListener("change", () => {
      const file = input.files[0];
      if (!file) return;
      const error = tooLarge(file, run);
      if (error) showError(panel, error);
      else send(file);
    });
  },
};

// what an arithmetic run made of a query: the cells it read, the reader's reading, the answer
function showAnswer(box, data, how) {
  const parts = [];
  if (data.cells) {
    const said = how === "drawn" ? "your cells as the model read them" : "the query in unseen handwriting";
    parts.push(element("p", "help", `${said}, and what the glyph reader reads in each:`));
    const cells = element("div", "cells");
    data.cells.forEach((src, i) => {
      const char = data.cells_read[i];
      cells.append(figure(src, char === " " ? "blank" : char, "cell"));
    });
    parts.push(cells);
  }
  const line = element("p", "answer");
  line.dataset.out = "answer";
  line.textContent = `${data.query || "(nothing read)"} = ${data.answer || "(blank)"}`;
  if ("correct" in data) {
    const verdict = data.correct ? "right" : `wrong: it is ${data.true_answer}`;
    line.append(" ", element("span", data.correct ? "right" : "wrong", verdict));
  }
  parts.push(line);
  if (data.answer_image) {
    const fig = figure(data.answer_image, "", "answer-image");
    fig.querySelector("img").dataset.out = "answer-image";
    fig.querySelector("figcaption").textContent =
      `the model's drawn answer; the glyph reader reads it back as "${data.answer}"`;
    parts.push(fig);
  }
  box.replaceChildren(...parts);
}

// a canvas of `cells` square cells, white paper and black ink, that exports itself as a PNG
function drawingPad(wrap, cells) {
  const canvas = $(wrap, "canvas");
  const side = 64;
  canvas.width = cells * side;
  canvas.height = side;
  wrap.style.setProperty("--cells", cells);
  const ctx = canvas.getContext("2d");
  const clear = () => {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  ctx.strokeStyle = "#000";
  ctx.lineWidth = side / 9;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [
      ((event.clientX - box.left) * canvas.width) / box.width,
      ((event.clientY - box.top) * canvas.height) / box.height,
    ];
  };
  let drawing = false;
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    ctx.beginPath();
    ctx.moveTo(...at(event));
    ctx.lineTo(...at(event));
    ctx.stroke();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    ctx.lineTo(...at(event));
    ctx.stroke();
  });
  const stop = () => {
    drawing = false;
  };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  return {
    clear,
    png: () => new Promise((resolve) => canvas.toBlob(resolve, "image/png")),
  };
}

function describe(run) {
  if (run.product === "images") {
    const what =
      { cae: "convolutional autoencoder", vae: "VAE", gan: "GAN", diffusion: "diffusion model" }[run.model] ||
      run.model;
    if (run.model === "diffusion") {
      return `${what} on ${run.data}, ${run.size}x${run.size}, sampled in ${run.sample_steps} ${run.sampler} steps`;
    }
    return `${what} on ${run.data}, ${run.size}x${run.size}, latent dimension ${run.latent_dim}`;
  }
  const forms = run.ops.split("").map((op) => `i${op}j`);
  return (
    `${run.task}: ${forms.join(", ")} for i, j in 0..${run.max_int}; ` +
    `reads ${run.input === "image" ? "handwriting" : "text"}, ` +
    `answers in ${run.output === "image" ? "drawn digits" : "text"}`
  );
}

function show(run) {
  const main = document.getElementById("run");
  const view = document.getElementById(`${run.product}-run`).content.cloneNode(true);
  const heading = element("h2", "run-name", run.name);
  const about = element("p", "note", describe(run));
  main.replaceChildren(heading, about, view);
  main.dataset.run = run.name;
  for (const panel of main.querySelectorAll("[data-feature]")) {
    const feature = panel.dataset.feature;
    if (run.features.includes(feature) && PANELS[feature]) PANELS[feature](panel, run);
    else panel.remove();
  }
  for (const link of document.querySelectorAll("#runs a")) {
    link.classList.toggle("current", link.dataset.run === run.name);
  }
}

async function start() {
  let runs;
  try {
    runs = (await api("/api/runs")).runs;
  } catch (err) {
    const box = document.getElementById("page-error");
    box.textContent = err.message;
    box.hidden = false;
    return;
  }
  const nav = document.getElementById("runs");
  for (const run of runs) {
    const link = element("a", "", run.name);
    link.href = `#${run.name}`;
    link.dataset.run = run.name;
    nav.append(link);
  }
  const pick = () => {
    const name = decodeURIComponent(location.hash.slice(1));
    show(runs.find((run) => run.name === name) || runs[0]);
  };
  window.addEventListener("hashchange", pick);
  pick();
}

start();
