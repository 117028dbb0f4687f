// The model page (serving/page.py). Everything shown comes from the JSON block the service put
// in the page: the model's v2 metadata (whose parameters are its signature) and its training
// metrics. Requests go to the v2 infer route by a relative URL, so the page works wherever the
// service is mounted (an ingress path prefix included). Plain browser JavaScript, no build step.
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("model-data").textContent);
  const metadata = data.metadata;
  const signature = metadata.parameters;
  const columns = signature.columns;
  const classes = signature.classes || [];
  const classNames = signature.class_names || [];
  const example = signature.example || { instances: [], predictions: [] };
  const inferPath = `v2/models/${encodeURIComponent(metadata.name)}/infer`;
  const byId = (id) => document.getElementById(id);

  function element(tag, attributes = {}, text = "") {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text) node.textContent = text;
    return node;
  }

  // ---- The card: name, version, task, metrics ----------------------------------------------

  function showCard() {
    const version = (metadata.versions || [])[0] || data.service_version;
    const task = signature.task === "classification" ? `classification into ${classes.length} classes` : signature.task;
    document.title = `${metadata.name} - model page`;
    byId("model-name").textContent = metadata.name;
    byId("model-summary").textContent =
      `version ${version} · ${task} · ${columns.length} input columns · ${metadata.platform}`;
    byId("metadata-link").setAttribute("href", `v2/models/${encodeURIComponent(metadata.name)}`);
    const entries = Object.entries(data.metrics || {});
    const body = byId("metrics").tBodies[0];
    for (const [name, value] of entries) {
      const row = body.insertRow();
      row.append(element("th", {}, name));
      const shown = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(4) : String(value);
      row.append(element("td", { class: typeof value === "number" ? "number" : "" }, shown));
    }
    byId("no-metrics").hidden = entries.length > 0;
    byId("metrics").hidden = entries.length === 0;
  }

  // ---- The form: one typed field per column --------------------------------------------------

  const KIND_WORDS = { number: "number", integer: "integer", boolean: "true or false", string: "text" };

  function fieldFor(column, index) {
    const wrap = element("div", { class: "field", id: `field-${index}` });
    const id = `value-${index}`;
    const label = element("label", { for: id }, column.name);
    const kind = KIND_WORDS[column.kind] || column.kind;
    label.append(" ", element("span", { class: "kind" }, `(${kind}${column.missing ? ", may be left empty" : ""})`));
    let input;
    if (column.kind === "boolean") {
      input = element("select", { id, name: column.name });
      for (const choice of ["", "true", "false"]) input.append(element("option", { value: choice }, choice));
    } else {
      input = element("input", { id, name: column.name, type: "text", autocomplete: "off" });
      if (column.kind === "number") input.setAttribute("inputmode", "decimal");
      if (column.kind === "integer") input.setAttribute("inputmode", "numeric");
      if (column.categories && column.categories.length) {
        // Suggestions, not a closed list: a value the model does not know is the service's to refuse.
        const list = element("datalist", { id: `${id}-choices` });
        for (const category of column.categories) list.append(element("option", { value: String(category) }));
        input.setAttribute("list", list.id);
        wrap.append(list);
      }
    }
    wrap.append(label, input, element("p", { class: "error", id: `error-${index}`, role: "alert", hidden: "" }));
    return wrap;
  }

  // A typed value from what was typed: what cannot be read as the column's kind is sent as typed,
  // so the service's own check says what is wrong with it.
  function typed(column, text) {
    const trimmed = text.trim();
    // An empty field is a missing value (null) where training saw the column missing; elsewhere it
    // is sent as typed, and the service says what the column takes.
    if (trimmed === "" && column.missing) return null;
    if (column.kind === "number" || column.kind === "integer") {
      const value = Number(trimmed);
      return trimmed !== "" && Number.isFinite(value) ? value : text;
    }
    if (column.kind === "boolean") {
      const word = trimmed.toLowerCase();
      if (["true", "1", "yes"].includes(word)) return true;
      if (["false", "0", "no"].includes(word)) return false;
      return text;
    }
    return text;
  }

  function fill(row) {
    row.forEach((value, index) => {
      byId(`value-${index}`).value = value === null || value === undefined ? "" : String(value);
    });
  }

  function csvCell(value) {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  }

  function showExamples() {
    const box = byId("examples");
    example.instances.forEach((row, index) => {
      const button = element("button", { type: "button", id: `example-${index}` }, `Example ${index + 1}`);
      button.addEventListener("click", () => fill(row));
      box.append(button);
    });
    if (example.instances.length > 1) {
      const button = element("button", { type: "button", id: "examples-csv" }, "All examples as CSV");
      button.addEventListener("click", () => {
        const lines = [columns.map((c) => csvCell(c.name)).join(",")];
        for (const row of example.instances) lines.push(row.map(csvCell).join(","));
        byId("csv-text").value = lines.join("\n");
        byId("csv").open = true;
      });
      box.append(button);
    }
    if (example.instances.length) fill(example.instances[0]);
  }

  // RFC 4180 as spreadsheets write it: quoted cells may hold commas, quotes ("") and newlines.
  function parseCsv(text) {
    const rows = [];
    let row = [];
    let cell = "";
    let quoted = false;
    for (let i = 0; i < text.length; i += 1) {
      const char = text[i];
      if (quoted) {
        if (char === '"' && text[i + 1] === '"') { cell += '"'; i += 1; }
        else if (char === '"') quoted = false;
        else cell += char;
      } else if (char === '"') quoted = true;
      else if (char === ",") { row.push(cell); cell = ""; }
      else if (char === "\n" || char === "\r") {
        if (char === "\r" && text[i + 1] === "\n") i += 1;
        row.push(cell); rows.push(row); row = []; cell = "";
      } else cell += char;
    }
    row.push(cell);
    rows.push(row);
    const filled = rows.filter((cells) => cells.some((c) => c.trim() !== ""));
    const header = columns.map((c) => c.name);
    if (filled.length && filled[0].every((c, i) => c.trim() === header[i])) filled.shift();
    return filled;
  }

  // ---- The request: as the v2 metadata says the inputs are ------------------------------------

  function v2Request(rows) {
    const inputs = metadata.inputs;
    let tensors;
    if (inputs.length === 1 && inputs[0].shape.length === 2) {
      // One 2-D tensor [rows, columns], values row after row.
      tensors = [{ name: inputs[0].name, shape: [rows.length, columns.length], datatype: inputs[0].datatype, data: rows.flat() }];
    } else {
      tensors = inputs.map((tensor, index) => ({
        name: tensor.name, shape: [rows.length], datatype: tensor.datatype, data: rows.map((row) => row[index]),
      }));
    }
    return { inputs: tensors, outputs: metadata.outputs.map((output) => ({ name: output.name })) };
  }

  function showRequest(body) {
    const url = new URL(inferPath, document.baseURI).href;
    const json = JSON.stringify(body);
    const quote = (text) => `'${text.replaceAll("'", "'\\''")}'`;
    byId("request-curl").textContent =
      `curl -sS -X POST ${quote(url)} \\\n  -H 'Content-Type: application/json' \\\n  -d ${quote(json)}`;
    // Indented, with arrays of plain values kept on one line (JSON strings hold no raw newline).
    const pretty = JSON.stringify(body, null, 2).replace(
      /\[\s*\n\s*([^[\]{}]*?)\s*\n\s*\]/g, (_, inner) => `[${inner.replace(/,\s*\n\s*/g, ", ")}]`,
    );
    byId("request-json").textContent = pretty;
    byId("request").hidden = false;
  }

  // ---- Errors: the service's message, next to the field it is about --------------------------

  function clearErrors() {
    for (const node of document.querySelectorAll(".error")) { node.hidden = true; node.textContent = ""; }
    for (const node of document.querySelectorAll(".field.invalid")) node.classList.remove("invalid");
  }

  // The column a message names (the service quotes column and input names as Python does), else,
  // for a one-row form, the first field whose text could not be read as its column's kind.
  function fieldOf(message, row) {
    const named = columns
      .map((column, index) => ({ index, name: column.name }))
      .filter(({ name }) => message.includes(`'${name}'`) || message.includes(`"${name}"`))
      .sort((a, b) => b.name.length - a.name.length);
    if (named.length) return named[0].index;
    if (!row) return -1;
    return columns.findIndex((column, index) => column.kind !== "string" && typeof row[index] === "string");
  }

  function showError(message, row) {
    const index = fieldOf(message, row);
    const target = index >= 0 ? byId(`error-${index}`) : byId("form-error");
    if (index >= 0) byId(`field-${index}`).classList.add("invalid");
    target.textContent = message;
    target.hidden = false;
  }

  // ---- The answer: labels (with class names) and probability bars ------------------------------

  function labelText(label) {
    const position = classes.findIndex((known) => known === label);
    const name = position >= 0 ? classNames[position] : undefined;
    return name !== undefined && String(name) !== String(label) ? `${name} (${label})` : String(label);
  }

  function bars(probabilities) {
    const box = element("div", { class: "bars" });
    probabilities.forEach((p, index) => {
      const track = element("div", { class: "track" });
      const bar = element("div", { class: "bar" });
      bar.style.width = `${(p * 100).toFixed(1)}%`;
      track.append(bar);
      box.append(element("span", {}, labelText(classes[index])), track, element("span", { class: "number" }, p.toFixed(3)));
    });
    return box;
  }

  function showAnswer(answer) {
    const outputs = Object.fromEntries(answer.outputs.map((output) => [output.name, output]));
    const labels = outputs.predict.data;
    const proba = outputs.predict_proba;
    const head = byId("predictions").tHead;
    const body = byId("predictions").tBodies[0];
    head.replaceChildren();
    body.replaceChildren();
    const titles = ["Row", signature.task === "classification" ? "Class" : "Value"];
    if (proba) titles.push("Class probabilities");
    head.insertRow().append(...titles.map((title) => element("th", {}, title)));
    labels.forEach((label, index) => {
      const row = body.insertRow();
      row.className = "prediction";
      row.append(element("td", { class: "number" }, String(index + 1)));
      const shown = typeof label === "number" && !Number.isInteger(label) ? label.toPrecision(6) : labelText(label);
      row.append(element("td", { class: "label", "data-label": JSON.stringify(label) }, shown));
      if (proba) {
        const width = proba.shape[1];
        const cell = element("td");
        cell.append(bars(proba.data.slice(index * width, (index + 1) * width)));
        row.append(cell);
      }
    });
    byId("answer").hidden = false;
  }

  // ---- Submit ----------------------------------------------------------------------------------

  async function submit(event) {
    event.preventDefault();
    clearErrors();
    const csv = byId("csv-text").value;
    const fromForm = csv.trim() === "";
    const rows = fromForm
      ? [columns.map((column, index) => typed(column, byId(`value-${index}`).value))]
      : parseCsv(csv).map((cells) => cells.map((cell, index) => (columns[index] ? typed(columns[index], cell) : cell)));
    if (!rows.length) {
      showError("the CSV holds no rows", null);
      return;
    }
    const body = v2Request(rows);
    showRequest(body);
    byId("answer").hidden = true;
    let response;
    try {
      response = await fetch(inferPath, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
    } catch (error) {
      showError(`the service did not answer: ${error.message}`, null);
      return;
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      showError(answer.error || `HTTP ${response.status}`, fromForm ? rows[0] : null);
      return;
    }
    showAnswer(answer);
  }

  showCard();
  byId("fields").append(...columns.map(fieldFor));
  showExamples();
  byId("row-form").addEventListener("submit", submit);
  document.body.dataset.ready = "true";
})();
