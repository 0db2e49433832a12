// Folio keying station: one field at a time, keyboard only.
//
// Keys: Enter submits, F8 illegible, F9 empty on paper, F2 more context,
// PageUp/PageDown zoom, ArrowUp/ArrowDown take entry 1/2 (arbitration),
// Ctrl+Shift+L signs out. Focus stays in the one input.
//
// One task is kept ahead (leased, its snippet decoded) so Enter shows the
// next field at once. Each submit carries `keystrokes` (key presses that
// changed the input) and `active_ms` (time from the snippet being shown to
// the submit, without gaps over 30 s between key events).
"use strict";
(function () {
  const GAP_MS = 30000;
  const POLL_MS = 3000;
  const ZOOMS = [0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4];
  const OUTCOME_LABEL = { illegible: "illegible", empty: "empty on paper" };

  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const station = $("station");
  const frame = $("frame");
  const input = $("value");
  const hint = $("hint");
  const message = $("message");
  const leaseEl = $("lease");
  const doneEl = $("done");

  let current = null; // the task on screen
  let ahead = null; // the next task, leased and its snippet decoded
  let aheadP = null; // a prefetch under way
  let aheadRetry = null; // timer: prefetch again after a 204
  let pollTimer = null; // timer: look for work while idle
  let busy = true; // submitting or loading: keys are held in `pending`
  let pending = [];
  let leaving = false;
  let done = 0;
  let zoom = ZOOMS.indexOf(1);
  try {
    const z = parseInt(sessionStorage.getItem("folio.zoom"), 10);
    if (z >= 0 && z < ZOOMS.length) zoom = z;
  } catch (_) {
    /* no storage: default zoom */
  }

  function say(text) {
    message.textContent = text || "";
  }

  class ApiError extends Error {
    constructor(status, text) {
      super(text);
      this.status = status;
    }
  }

  async function post(path, body, keepalive) {
    const r = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    if (r.status === 401 && !leaving) {
      leaving = true;
      window.location.assign("/login");
      throw new ApiError(401, "signed out");
    }
    let data = {};
    if (r.status !== 204) {
      try {
        data = (await r.json()) || {};
      } catch (_) {
        data = {};
      }
    }
    return { status: r.status, data: data, date: r.headers.get("Date") };
  }

  function compile(pattern) {
    if (!pattern) return null;
    try {
      return new RegExp("^(?:" + pattern + ")$");
    } catch (_) {
      return null;
    }
  }

  // Leases a task and decodes its snippet; null when none is waiting.
  async function fetchTask() {
    const r = await post("/api/v1/tasks/next");
    const now = Date.now();
    if (r.status === 204) return null;
    if (r.status !== 200) {
      throw new ApiError(r.status, r.data.error || "No task (" + r.status + ").");
    }
    const task = r.data;
    // The lease end on this machine's clock: the server's remaining time
    // (its Date header against its expiry) from now.
    const expires = Date.parse(task.lease_expires);
    const serverNow = r.date ? Date.parse(r.date) : NaN;
    const leaseEnd = isNaN(expires) ? null : isNaN(serverNow) ? expires : now + (expires - serverNow);
    const image = new Image();
    image.alt = "The field " + task.field + " as it is on paper";
    image.src = task.snippet_url;
    try {
      await image.decode();
    } catch (_) {
      image.alt = "The snippet of " + task.field + " could not be loaded (F2 tries more context)";
    }
    return { task: task, image: image, leaseEnd: leaseEnd, pattern: compile(task.pattern) };
  }

  function release(entry, keepalive) {
    if (!entry) return Promise.resolve();
    // Names the lease: a give-back arriving late never frees the task
    // after it was leased again (to this page included).
    return post("/api/v1/tasks/" + entry.task.id + "/release", { lease: entry.task.lease }, keepalive).catch(
      () => {}
    );
  }

  // Keeps one task ahead while a task is on screen.
  function ensureAhead() {
    if (ahead || aheadP || leaving || !current) return;
    clearTimeout(aheadRetry);
    aheadRetry = null;
    aheadP = fetchTask().then(
      (e) => {
        aheadP = null;
        if (leaving) return release(e);
        if (e) ahead = e;
        else aheadRetry = setTimeout(ensureAhead, POLL_MS);
      },
      () => {
        aheadP = null;
        if (!leaving) aheadRetry = setTimeout(ensureAhead, POLL_MS);
      }
    );
  }

  async function takeNext() {
    if (!ahead && aheadP) await aheadP;
    clearTimeout(aheadRetry);
    aheadRetry = null;
    while (ahead) {
      const a = ahead;
      ahead = null;
      if (a.leaseEnd === null || a.leaseEnd > Date.now() + 1000) return a;
      // Its lease ran out while it waited: give it back, take another
      // (after the give-back, so the next lease is not given back with it).
      await release(a);
    }
    return fetchTask();
  }

  function applyZoom() {
    frame.style.setProperty("--zoom", String(ZOOMS[zoom]));
    station.dataset.zoom = String(ZOOMS[zoom]);
    try {
      sessionStorage.setItem("folio.zoom", String(zoom));
    } catch (_) {
      /* no storage */
    }
  }

  function setImage(img) {
    img.id = "snippet";
    frame.replaceChildren(img);
    frame.scrollTop = 0;
    frame.scrollLeft = 0;
  }

  function show(entry) {
    const t = entry.task;
    current = Object.assign({}, entry, {
      context: null,
      showingContext: false,
      chosen: null,
      keystrokes: 0,
      active: 0,
      last: performance.now(),
    });
    station.dataset.state = "task";
    station.dataset.task = String(t.id);
    station.dataset.kind = t.kind;
    station.dataset.field = t.field;
    $("idle").hidden = true;
    $("task").hidden = false;
    $("view").hidden = false;
    $("context-note").hidden = true;
    $("kind-label").textContent = t.kind === "arbitrate" ? "Decide" : "Field";
    $("field-name").textContent = t.field;
    $("mask").textContent = t.mask || "";
    const entries = $("entries");
    if (t.kind === "arbitrate") {
      const list = t.entries || [];
      [0, 1].forEach((i) => {
        const li = $("entry-" + (i + 1));
        const en = list[i];
        li.classList.remove("chosen");
        li.querySelector(".entry-value").textContent = !en
          ? "—"
          : en.outcome === "value"
          ? en.value
          : "(" + (OUTCOME_LABEL[en.outcome] || en.outcome) + ")";
      });
      entries.hidden = false;
      $("value-label").textContent = "Value as on paper (↑/↓ takes an entry)";
    } else {
      entries.hidden = true;
      $("value-label").textContent = "Value as on paper";
    }
    setImage(entry.image);
    applyZoom();
    input.readOnly = false;
    input.placeholder = t.mask || "";
    input.value = pending.join("");
    current.keystrokes += pending.length;
    pending = [];
    updateHint();
    updateLease();
    busy = false;
    input.focus();
    ensureAhead();
  }

  function idle() {
    current = null;
    busy = false;
    pending = [];
    station.dataset.state = "idle";
    station.dataset.task = "";
    station.dataset.kind = "";
    station.dataset.field = "";
    $("task").hidden = true;
    $("view").hidden = true;
    $("idle").hidden = false;
    $("context-note").hidden = true;
    frame.replaceChildren();
    $("value-label").textContent = "Value as on paper";
    input.value = "";
    input.placeholder = "";
    input.readOnly = true;
    updateHint();
    updateLease();
    input.focus();
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    pollTimer = null;
    if (leaving || current) return;
    let e = null;
    try {
      e = await fetchTask();
    } catch (err) {
      if (err.status !== 401) say(err.message);
    }
    if (leaving) return release(e);
    if (e) show(e);
    else pollTimer = setTimeout(poll, POLL_MS);
  }

  // `since`: when the keyer pressed the key that ended the last field
  // (the time to the next field is kept in data-switch-ms).
  async function next(since) {
    busy = true;
    current = null;
    station.dataset.state = "loading";
    let e = null;
    try {
      e = await takeNext();
    } catch (err) {
      if (err.status !== 401) say(err.message);
    }
    if (leaving) return release(e);
    if (e) show(e);
    else idle();
    if (e && since !== undefined) {
      station.dataset.switchMs = (performance.now() - since).toFixed(1);
    }
  }

  // Time in the input: key events closer than 30 s apart add up.
  function tick() {
    if (!current) return;
    const now = performance.now();
    const gap = now - current.last;
    if (gap <= GAP_MS) current.active += gap;
    current.last = now;
  }

  function updateHint() {
    const c = current;
    const v = input.value;
    const bad = !!(c && c.pattern && v !== "" && !c.pattern.test(v));
    input.classList.toggle("mismatch", bad);
    input.setAttribute("aria-invalid", bad ? "true" : "false");
    if (!c) hint.textContent = "";
    else if (c.chosen) hint.textContent = "Taking " + OUTCOME_LABEL[c.chosen] + ": Enter confirms, typing replaces.";
    else if (bad) hint.textContent = "Does not fit the mask " + (c.task.mask || c.task.pattern) + " (Enter still sends).";
    else hint.textContent = "";
  }

  function updateLease() {
    const c = current;
    if (!c || c.leaseEnd === null) {
      leaseEl.textContent = "";
      leaseEl.classList.remove("warn");
      return;
    }
    const left = Math.round((c.leaseEnd - Date.now()) / 1000);
    const until = new Date(c.leaseEnd).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (left <= 0) leaseEl.textContent = "lease over: the field may have gone to someone else";
    else if (left < 60) leaseEl.textContent = "lease ends in " + left + " s";
    else leaseEl.textContent = "lease until " + until;
    leaseEl.classList.toggle("warn", left < 30);
  }

  async function submit(kind) {
    const c = current;
    if (!c || busy || leaving) return;
    const body = { keystrokes: c.keystrokes, active_ms: Math.round(c.active), lease: c.task.lease };
    if (kind === "value" && c.chosen) body[c.chosen] = true;
    else if (kind === "value") {
      if (input.value.trim() === "") {
        say("Type the value, or F8 if illegible, F9 if empty on paper.");
        return;
      }
      body.value = input.value;
      // An arbiter keeps a value that fails the field's check (the paper
      // may be wrong) by pressing Enter again on the same value.
      if (c.confirmValue !== undefined && c.confirmValue === input.value) body.confirm = true;
    } else body[kind] = true;
    busy = true;
    const since = performance.now();
    let r;
    try {
      r = await post("/api/v1/tasks/" + c.task.id + "/submit", body);
    } catch (err) {
      busy = false;
      pending = [];
      if (err.status !== 401) say("Not sent: the server cannot be reached. Enter tries again.");
      return;
    }
    if (r.status === 200) {
      done += 1;
      doneEl.textContent = done + " done";
      say("");
      return next(since);
    }
    if (r.status === 409) {
      say((r.data.error || "This field is no longer yours.") + " Dropped; next field.");
      return next(since);
    }
    busy = false;
    pending = [];
    if (r.status === 422) {
      c.confirmValue = r.data.confirm ? body.value : undefined;
      say(r.data.error || "The value does not fit the field.");
      input.classList.add("mismatch");
      input.setAttribute("aria-invalid", "true");
    } else {
      say((r.data.error || "Not recorded") + " (" + r.status + "). Enter tries again.");
    }
    input.focus();
  }

  function toggleContext() {
    const c = current;
    if (!c) return;
    if (c.showingContext) {
      setImage(c.image);
      c.showingContext = false;
    } else {
      if (!c.context) {
        c.context = new Image();
        c.context.alt = "The field " + c.task.field + " with more of the page around it";
        const url = c.task.snippet_url;
        c.context.src = url + (url.indexOf("?") < 0 ? "?" : "&") + "context=1";
      }
      setImage(c.context);
      c.showingContext = true;
    }
    $("context-note").hidden = !c.showingContext;
    station.dataset.context = c.showingContext ? "1" : "0";
  }

  function take(i) {
    const c = current;
    if (!c || c.task.kind !== "arbitrate") return;
    const en = (c.task.entries || [])[i];
    if (!en) return;
    if (en.outcome === "value") {
      input.value = en.value;
      c.chosen = null;
      input.placeholder = c.task.mask || "";
    } else {
      input.value = "";
      c.chosen = en.outcome;
      input.placeholder = "(" + OUTCOME_LABEL[en.outcome] + ")";
    }
    c.keystrokes += 1;
    [0, 1].forEach((j) => $("entry-" + (j + 1)).classList.toggle("chosen", j === i));
    say("");
    updateHint();
  }

  async function logout() {
    if (leaving) return;
    leaving = true;
    busy = true;
    clearTimeout(pollTimer);
    clearTimeout(aheadRetry);
    station.dataset.state = "signing-out";
    say("Signing out…");
    if (aheadP) await aheadP; // releases what it brings (leaving)
    await Promise.all([release(current), release(ahead)]);
    current = null;
    ahead = null;
    try {
      await post("/api/v1/logout");
    } catch (_) {
      /* going to the sign-in page anyway */
    }
    window.location.assign("/login");
  }

  function printable(ev) {
    return ev.key.length === 1 && !ev.ctrlKey && !ev.metaKey && !ev.altKey;
  }

  document.addEventListener(
    "keydown",
    (ev) => {
      if (ev.ctrlKey && ev.shiftKey && (ev.key === "L" || ev.key === "l")) {
        ev.preventDefault();
        logout();
        return;
      }
      if (document.activeElement !== input) input.focus();
      tick();
      if (busy) {
        // Between a submit and the next field: hold what is typed for it.
        if (printable(ev) && !leaving) pending.push(ev.key);
        if (printable(ev) || ev.key === "Enter" || /^F\d+$/.test(ev.key) || ev.key.startsWith("Page")) {
          ev.preventDefault();
        }
        return;
      }
      switch (ev.key) {
        case "Enter":
          ev.preventDefault();
          submit("value");
          break;
        case "F8":
          ev.preventDefault();
          submit("illegible");
          break;
        case "F9":
          ev.preventDefault();
          submit("empty");
          break;
        case "F2":
          ev.preventDefault();
          toggleContext();
          break;
        case "PageUp":
          ev.preventDefault();
          if (zoom < ZOOMS.length - 1) zoom += 1;
          applyZoom();
          break;
        case "PageDown":
          ev.preventDefault();
          if (zoom > 0) zoom -= 1;
          applyZoom();
          break;
        case "ArrowUp":
        case "ArrowDown":
          if (current && current.task.kind === "arbitrate") {
            ev.preventDefault();
            take(ev.key === "ArrowUp" ? 0 : 1);
          }
          break;
        case "Escape":
          ev.preventDefault();
          break;
        default:
          break;
      }
    },
    true
  );

  // Every change to the input by a key press counts as one keystroke
  // (a finished IME composition counts once).
  input.addEventListener("input", (ev) => {
    if (!current || ev.isComposing) return;
    current.keystrokes += 1;
    current.chosen = null;
    updateHint();
  });
  input.addEventListener("compositionend", () => {
    if (!current) return;
    current.keystrokes += 1;
    current.chosen = null;
    updateHint();
  });
  input.addEventListener("blur", () => {
    setTimeout(() => {
      if (!leaving) input.focus();
    }, 0);
  });
  window.addEventListener("focus", () => input.focus());
  // Leaving the page gives back the tasks held (fetch with keepalive: a
  // beacon cannot carry the CSRF header).
  window.addEventListener("pagehide", () => {
    if (leaving) return;
    leaving = true;
    release(current, true);
    release(ahead, true);
  });
  // Back from the browser's page cache: the tasks were given back.
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) window.location.reload();
  });
  setInterval(updateLease, 1000);

  applyZoom();
  next();
})();
