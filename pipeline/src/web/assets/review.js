// Folio console: a batch's pages for review, keyboard only.
// J/K next/previous flagged page, arrows any page, A keep, D drop,
// R re-scan (D and R ask for an optional reason: Enter records, Esc
// cancels). Every decision is a POST to /api/v1/review/pages/{id}; the
// grid is redrawn from the JSON API afterwards.
'use strict';

const LABELS = {
  blank: 'blank', rescan: 're-scan', qc: 'QC failed',
  orientation: 'orientation unsure', deskew: 'deskew unsure', page_count: 'page count',
};
const DONE = { keep: 'kept', drop: 'dropped', rescan: 're-scan requested' };
let pages = [];
let at = 0;
let busy = false;
let asking = null; // 'drop' | 'rescan' while the reason box is open

const $ = id => document.getElementById(id);

function badge(f) {
  const li = document.createElement('li');
  li.className = 'badge flag-' + f.flag;
  li.dataset.flag = f.flag;
  li.textContent = LABELS[f.flag] || f.flag;
  if (f.detail) { li.textContent += ': ' + f.detail; li.title = f.detail; }
  return li;
}

function decisionText(p) {
  if (p.decision) {
    return DONE[p.decision] + ' by ' + (p.decided_by || '?') + (p.decided_at ? ' · ' + p.decided_at : '');
  }
  if (p.flags.length) return p.holds ? 'undecided · holds ' + p.document_id : 'undecided';
  return '';
}

function flagged(i) { return pages[i] && pages[i].flags.length > 0; }

function message(text) { $('message').textContent = text || ''; }
function notice(text) { $('notice').textContent = text || ''; }

function summary() {
  const fl = pages.filter(p => p.flags.length);
  const undecided = fl.filter(p => !p.decision).length;
  const held = new Set(pages.filter(p => p.holds).map(p => p.document_id)).size;
  const packaged = new Set(pages.filter(p => p.document_state === 'packaged').map(p => p.document_id)).size;
  const s = $('summary');
  s.textContent = pages.length + ' pages · ' + fl.length + ' flagged · ' + undecided + ' undecided · ' +
    held + ' documents held · ' + packaged + ' packaged';
  s.dataset.undecided = String(undecided);
  s.dataset.held = String(held);
}

function draw() {
  const grid = $('grid');
  // Keep the img elements of pages already shown: no refetch per decision.
  const old = new Map();
  grid.querySelectorAll('li.thumb').forEach(li => old.set(li.dataset.pageId, li.querySelector('img')));
  grid.innerHTML = '';
  pages.forEach((p, i) => {
    const li = document.createElement('li');
    li.className = 'thumb' + (i === at ? ' current' : '') + (p.flags.length ? ' flagged' : '') +
      (p.decision ? ' decided decision-' + p.decision : '');
    li.dataset.pageId = String(p.page_id);
    li.dataset.index = String(i);
    li.dataset.decision = p.decision || '';
    li.dataset.flags = p.flags.map(f => f.flag).join(' ');
    let img = old.get(String(p.page_id));
    if (!img) {
      img = document.createElement('img');
      img.loading = 'lazy';
      img.alt = p.document_id + ' page ' + p.seq;
      img.src = '/api/v1/pages/' + p.page_id + '/thumbnail';
    }
    li.appendChild(img);
    const cap = document.createElement('p');
    cap.className = 'caption';
    cap.textContent = p.document_id + ' · p' + p.seq;
    li.appendChild(cap);
    const ul = document.createElement('ul');
    ul.className = 'badges';
    p.flags.forEach(f => ul.appendChild(badge(f)));
    li.appendChild(ul);
    const d = document.createElement('p');
    d.className = 'decided-by';
    d.textContent = decisionText(p);
    li.appendChild(d);
    li.addEventListener('click', () => { at = i; draw(); });
    grid.appendChild(li);
  });
  summary();
  const p = pages[at];
  if (!p) { $('where').textContent = 'This batch has no pages.'; return; }
  $('where').textContent = (at + 1) + ' / ' + pages.length + ' · ' + p.document_id + ' page ' + p.seq +
    ' · ' + p.original + (p.file_page > 1 ? ' (page ' + p.file_page + ' of the file)' : '') +
    ' · document ' + p.document_state;
  const cf = $('current-flags');
  cf.innerHTML = '';
  p.flags.forEach(f => cf.appendChild(badge(f)));
  $('decision').textContent = decisionText(p) || 'no flags';
  const src = '/api/v1/pages/' + p.page_id + '/thumbnail?width=1000';
  if ($('large').getAttribute('src') !== src) $('large').src = src;
  const cur = grid.querySelector('li.current');
  if (cur) cur.scrollIntoView({ block: 'nearest' });
}

async function load() {
  const r = await fetch('/api/v1/review/' + encodeURIComponent(BATCH));
  if (!r.ok) { message(await errorText(r)); return false; }
  pages = await r.json();
  at = Math.min(at, Math.max(pages.length - 1, 0));
  draw();
  return true;
}

async function errorText(r) {
  let why = '';
  try { why = (await r.json()).error; } catch (e) { why = r.statusText; }
  if (r.status === 401) return 'Your session ended: sign in again.';
  return r.status + ': ' + why;
}

// The next flagged page after (step 1) or before (step -1) the current one.
function moveFlagged(step) {
  for (let i = at + step; i >= 0 && i < pages.length; i += step) {
    if (flagged(i)) { at = i; draw(); return; }
  }
  notice(step > 0 ? 'No flagged page after this one.' : 'No flagged page before this one.');
}

// After a decision: the next undecided flagged page, from here on round.
function nextUndecided() {
  for (let k = 1; k <= pages.length; k++) {
    const i = (at + k) % pages.length;
    if (flagged(i) && !pages[i].decision) { at = i; return; }
  }
}

async function decide(decision, reason) {
  const p = pages[at];
  if (!p || busy) return;
  busy = true;
  message('');
  notice('');
  try {
    const r = await fetch('/api/v1/review/pages/' + p.page_id, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': CSRF },
      body: JSON.stringify({ decision, reason }),
    });
    if (!r.ok) {
      message(await errorText(r));
      await load();
      return;
    }
    const d = await r.json();
    if (await load()) {
      nextUndecided();
      draw();
      notice(d.packaged ? d.document_id + ' packaged.'
        : d.undecided_left > 0 ? d.document_id + ': ' + d.undecided_left + ' flag(s) still undecided.' : '');
    }
  } finally {
    busy = false;
  }
}

function ask(decision) {
  if (!pages[at]) return;
  asking = decision;
  $('reason-label').textContent = (decision === 'drop' ? 'Why drop this page' : 'Why scan this page again') +
    ' (optional) — Enter records, Esc cancels';
  $('reason-form').hidden = false;
  $('reason').value = '';
  $('reason').focus();
}

function closeAsk() {
  asking = null;
  $('reason-form').hidden = true;
  $('reason').blur();
}

$('reason-form').addEventListener('submit', e => {
  e.preventDefault();
  const d = asking;
  const why = $('reason').value.trim();
  closeAsk();
  if (d) decide(d, why);
});

$('reason').addEventListener('keydown', e => {
  if (e.key === 'Escape') { e.preventDefault(); closeAsk(); }
  e.stopPropagation();
});

document.addEventListener('keydown', e => {
  if (asking || busy || e.ctrlKey || e.metaKey || e.altKey) return;
  const k = e.key;
  if (k === 'j' || k === 'J') moveFlagged(1);
  else if (k === 'k' || k === 'K') moveFlagged(-1);
  else if (k === 'ArrowRight' || k === 'ArrowDown') { at = Math.min(at + 1, pages.length - 1); draw(); }
  else if (k === 'ArrowLeft' || k === 'ArrowUp') { at = Math.max(at - 1, 0); draw(); }
  else if (k === 'a' || k === 'A') decide('keep', '');
  else if (k === 'd' || k === 'D') ask('drop');
  else if (k === 'r' || k === 'R') ask('rescan');
  else return;
  e.preventDefault();
});

load().then(ok => {
  if (!ok) return;
  // Start on the first undecided flagged page, if any.
  const i = pages.findIndex(p => p.flags.length && !p.decision);
  if (i >= 0) { at = i; draw(); }
});
