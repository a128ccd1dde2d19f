// clusterfaces review: people, one person, "Who is this?" and history, over the app's JSON API.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const view = () => $("#view");
let people = null;  // every person (ignored too) for the type-ahead: loaded when first needed, again after edits

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value != null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(child));
  return node;
}

async function get(path) {
  const response = await fetch(path, {credentials: "same-origin"});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function post(path, body = {}) {
  toast("Saving…");
  const response = await fetch(path, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const answer = await response.json();
  if (!response.ok) { toast(answer.error || response.statusText, true); throw new Error(answer.error); }
  toast(answer.summary + (answer.warning ? ` (${answer.warning})` : ""), false, path !== "/api/undo");
  people = null;
  return answer;
}

function toast(text, error = false, undoable = false) {
  const box = $("#toast");
  $("#toast-text").textContent = text;
  box.classList.toggle("error", error);
  $("#toast-undo").hidden = !undoable;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, error || undoable ? 15000 : 6000);
}

const thumb = id => `/api/faces/${id}/thumb`;
const photo = id => `/api/faces/${id}/photo`;
async function loadPeople() { people = await get("/api/people?ignored=1"); return people; }
const knownPeople = async () => people || loadPeople();

// --- the photo viewer and the type-ahead picker -------------------------------------------------------
function showPhoto(face) {
  $("#viewer-img").src = photo(face.id);
  $("#viewer-caption").textContent = face.photo;
  $("#viewer").hidden = false;
}

async function pick(title, exclude) {
  await knownPeople();
  return new Promise(resolve => {
    const modal = $("#picker"), input = $("#picker-input"), list = $("#picker-list");
    let matches = [], active = 0;
    const close = value => { modal.hidden = true; input.onkeydown = input.oninput = null; resolve(value); };
    const render = () => {
      const text = input.value.trim().toLowerCase();
      matches = people.filter(p => !exclude.includes(p.id) && !p.ignored &&
        (p.label.toLowerCase().includes(text) || String(p.id) === text))
        .sort((a, b) => (b.name ? 1 : 0) - (a.name ? 1 : 0) || b.faces - a.faces).slice(0, 12);
      active = Math.min(active, Math.max(0, matches.length - 1));
      list.replaceChildren(...matches.map((p, i) => el("li", {role: "option", class: i === active ? "active" : "",
        "data-id": p.id, onmousedown: event => { event.preventDefault(); close(p.id); }},
        `${p.label} · ${p.faces} faces`)));
    };
    $("#picker-title").textContent = title;
    input.value = "";
    input.oninput = () => { active = 0; render(); };
    input.onkeydown = event => {
      if (event.key === "ArrowDown") { active = Math.min(active + 1, matches.length - 1); render(); }
      else if (event.key === "ArrowUp") { active = Math.max(active - 1, 0); render(); }
      else if (event.key === "Enter" && matches.length) close(matches[active].id);
      else if (event.key === "Escape") close(null);
      else return;
      event.preventDefault();
    };
    $("#picker-cancel").onclick = () => close(null);
    modal.hidden = false;
    render();
    input.focus();
  });
}

// --- People ------------------------------------------------------------------------------------------
const peopleState = {search: "", order: "unnamed", ignored: false};
const CARDS = 240;

async function showPeople() {
  const everyone = await loadPeople();
  const cards = el("div", {class: "cards", id: "people"});
  const sentinel = el("div", {class: "more"});
  let shown = [];
  const more = () => {  // cards a few hundred at a time, as the page scrolls
    cards.append(...shown.slice(cards.children.length, cards.children.length + CARDS).map(card));
    sentinel.textContent = cards.children.length < shown.length ? "more…" : "";
  };
  new IntersectionObserver(entries => entries.some(e => e.isIntersecting) && more(), {rootMargin: "800px"})
    .observe(sentinel);
  const draw = () => {
    const text = peopleState.search.trim().toLowerCase();
    shown = everyone.filter(p => (peopleState.ignored || !p.ignored) && (!text || p.label.toLowerCase().includes(text)));
    if (peopleState.order === "unnamed") shown.sort((a, b) => (a.name ? 1 : 0) - (b.name ? 1 : 0) || b.faces - a.faces);
    else shown.sort((a, b) => b.faces - a.faces || a.id - b.id);
    cards.replaceChildren();
    more();
    $("#people-count").textContent = `${shown.length} of ${everyone.length} people`;
  };
  const search = el("input", {id: "search", type: "search", placeholder: "Search by name", value: peopleState.search,
    oninput: event => { peopleState.search = event.target.value; draw(); }});
  const order = el("select", {id: "order", onchange: event => { peopleState.order = event.target.value; draw(); }},
    el("option", {value: "unnamed"}, "Unnamed first"), el("option", {value: "largest"}, "Largest first"));
  order.value = peopleState.order;
  const ignored = el("input", {id: "show-ignored", type: "checkbox", checked: peopleState.ignored,
    onchange: event => { peopleState.ignored = event.target.checked; draw(); }});
  view().replaceChildren(el("div", {class: "controls"}, search, order,
    el("label", {}, ignored, " Show ignored people"), el("span", {id: "people-count", class: "counts"})), cards,
    sentinel);
  draw();
  search.focus();
}

function card(p) {
  return el("a", {class: `card${p.name ? "" : " unnamed"}${p.ignored ? " ignored" : ""}`, href: `#/person/${p.id}`,
    "data-id": p.id},
    p.cover ? el("img", {src: thumb(p.cover), alt: "", loading: "lazy"}) : el("div", {class: "noface"}),
    el("div", {class: "label"}, p.label), el("div", {class: "counts"}, `${p.faces} faces · ${p.photos} photos`));
}

// --- A person ----------------------------------------------------------------------------------------
const PAGE = 200;

async function showPerson(id) {
  let person;
  try { person = await get(`/api/people/${id}`); }
  catch (error) { view().replaceChildren(el("p", {class: "error-text"}, error.message)); return; }
  const grid = el("div", {class: "faces", id: "faces", tabindex: 0});
  const faces = [], selected = new Set();
  let anchor = null, focus = 0, loading = false, done = false;
  const count = el("span", {id: "selected-count"});
  const bar = el("div", {id: "selection", hidden: true}, count,
    el("button", {type: "button", id: "move", onclick: () => moveSelection()}, "Move to…"),
    el("button", {type: "button", id: "not-person", onclick: () => edit("/api/faces/reject",
      {faces: [...selected], person: id})}, "Not this person"),
    el("button", {type: "button", id: "new-person", onclick: () => edit("/api/faces/new-person", {faces: [...selected]},
      true)}, "New person"),
    el("button", {type: "button", id: "clear", onclick: () => select([])}, "Clear"));

  const select = (ids, add = false) => {
    if (!add) selected.clear();
    ids.forEach(faceId => selected.add(faceId));
    for (const tile of grid.children) tile.classList.toggle("selected", selected.has(+tile.dataset.id));
    count.textContent = `${selected.size} selected`;
    bar.hidden = selected.size === 0;
  };
  const toggle = faceId => { selected.has(faceId) ? selected.delete(faceId) : selected.add(faceId); select([], true); };
  const range = (from, to) => faces.slice(Math.min(from, to), Math.max(from, to) + 1).map(f => f.id);
  const focusTile = index => {
    focus = Math.max(0, Math.min(index, faces.length - 1));
    const tile = grid.children[focus];
    if (tile) { tile.focus(); tile.scrollIntoView({block: "nearest"}); }
  };
  const clickTile = (event, index) => {
    const faceId = faces[index].id;
    if (event.shiftKey && anchor !== null) select(range(anchor, index), event.ctrlKey || event.metaKey);
    else if (event.ctrlKey || event.metaKey) { toggle(faceId); anchor = index; }
    else { selected.has(faceId) && selected.size === 1 ? select([]) : select([faceId]); anchor = index; }
    focus = index;
  };
  const tile = (face, index) => el("div", {class: `face${face.confirmed ? " confirmed" : ""}`, tabindex: -1,
    "data-id": face.id, title: `${face.name}${face.missing ? " (missing)" : ""}`,
    onclick: event => clickTile(event, index), ondblclick: () => showPhoto(face)},
    el("img", {src: thumb(face.id), alt: "", loading: "lazy"}),
    el("button", {type: "button", class: "open", title: "Show the photo",
      onclick: event => { event.stopPropagation(); showPhoto(face); }}, "photo"));

  const more = async () => {
    if (loading || done) return;
    loading = true;
    const page = await get(`/api/people/${id}/faces?offset=${faces.length}&limit=${PAGE}`);
    page.forEach(face => { grid.append(tile(face, faces.length)); faces.push(face); });
    done = page.length < PAGE;
    sentinel.textContent = done ? `${faces.length} faces` : `${faces.length} of ${person.faces} faces shown…`;
    loading = false;
    if (!done && sentinel.getBoundingClientRect().top < innerHeight * 2) more();
  };
  const sentinel = el("div", {class: "more", id: "more"});
  new IntersectionObserver(entries => entries.some(e => e.isIntersecting) && more(), {rootMargin: "600px"})
    .observe(sentinel);

  grid.addEventListener("keydown", event => {
    const columns = Math.max(1, Math.round(grid.clientWidth / (grid.children[0]?.offsetWidth || 1)));
    const step = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns}[event.key];
    if (step) {
      const next = Math.max(0, Math.min(focus + step, faces.length - 1));
      if (event.shiftKey) { if (anchor === null) anchor = focus; select(range(anchor, next)); }
      focusTile(next);
    } else if (event.key === " ") { toggle(faces[focus].id); anchor = focus; }
    else if (event.key === "Enter") showPhoto(faces[focus]);
    else if (event.key === "a" && (event.ctrlKey || event.metaKey)) select(faces.map(f => f.id));
    else if (event.key === "Escape") select([]);
    else if (event.key === "m" && selected.size) moveSelection();
    else return;
    event.preventDefault();
  });
  grid.addEventListener("focus", () => focusTile(focus));

  const edit = async (path, body, follow = false) => {
    const answer = await post(path, body);
    const next = follow && answer.person ? `#/person/${answer.person}` : location.hash;
    if (next !== location.hash) location.hash = next;  // hashchange shows it
    else route();
  };
  const moveSelection = async () => {
    const target = await pick(`Move ${selected.size} faces to…`, [id]);
    if (target !== null) await edit("/api/faces/move", {faces: [...selected], person: target});
  };

  const title = el("h1", {id: "person-name", tabindex: 0, title: "Click to rename"}, person.label,
    el("span", {class: "hint"}, "click to rename"));
  const rename = () => {
    const input = el("input", {id: "rename", value: person.name || "", placeholder: person.label});
    input.addEventListener("keydown", async event => {
      if (event.key === "Enter" && input.value.trim()) {
        event.preventDefault();
        await edit(`/api/people/${id}/rename`, {name: input.value}, true);
      } else if (event.key === "Escape") route();
    });
    title.replaceChildren(input);
    input.focus();
  };
  title.addEventListener("click", rename);
  title.addEventListener("keydown", event => { if (event.key === "Enter") { event.preventDefault(); rename(); } });

  const actions = el("div", {class: "controls"},
    el("span", {class: "counts"}, `${person.faces} faces · ${person.photos} photos${person.ignored ? " · ignored" : ""}`),
    el("button", {type: "button", id: "merge", onclick: async () => {
      const target = await pick(`Merge ${person.label} into…`, [id]);
      if (target !== null) await edit(`/api/people/${target}/merge`, {others: [id]}, true);
    }}, "Merge with…"),
    el("button", {type: "button", id: "ignore", onclick: () => edit(`/api/people/${id}/ignore`,
      {ignored: !person.ignored})}, person.ignored ? "Stop ignoring" : "Ignore"),
    el("button", {type: "button", id: "split", onclick: () => edit(`/api/people/${id}/split`, {})}, "Split"),
    el("span", {class: "counts"}, "Click, shift-click or arrow keys (shift to extend, space, Ctrl-A) select faces; " +
      "double-click or Enter shows the photo."));
  view().replaceChildren(title, actions, bar, grid, sentinel);
  await more();
}

// --- Who is this? -------------------------------------------------------------------------------------
async function showWho() {
  const item = (entry, person) => {
    const choices = el("div", {class: "choices"});
    const box = el("div", {class: "item", "data-face": entry.face.id},
      el("img", {src: thumb(entry.face.id), alt: "", title: entry.face.name, onclick: () => showPhoto(entry.face)}),
      choices);
    const act = async (path, body) => { await post(path, body); box.remove(); };
    choices.append(el("span", {class: "counts"}, person ? `in ${person.label} (${entry.distance})` : "in no one"));
    entry.suggestions.forEach(s => choices.append(el("button", {type: "button", class: "suggest", "data-person": s.person,
      title: `distance ${s.distance}`, onclick: () => act("/api/faces/move", {faces: [entry.face.id], person: s.person})},
    `${s.name}? `, el("span", {class: "counts"}, s.distance.toFixed(2)))));
    if (person) choices.append(el("button", {type: "button", class: "not", onclick: () => act("/api/faces/reject",
      {faces: [entry.face.id], person: person.id})}, `Not ${person.label}`));
    choices.append(el("button", {type: "button", class: "other", onclick: async () => {
      const target = await pick("Whose face is this?", person ? [person.id] : []);
      if (target !== null) await act("/api/faces/move", {faces: [entry.face.id], person: target});
    }}, "Someone else…"));
    return box;
  };
  const unassigned = el("div", {class: "who", id: "who-unassigned"}, "Looking for faces in no group…");
  const doubtful = el("div", {class: "who", id: "who-doubtful"});
  const more = el("button", {type: "button", id: "who-more", hidden: true}, "More people");
  let next = 0;
  const load = async () => {
    more.hidden = true;
    const page = await get(`/api/who/doubtful?offset=${next}`);
    doubtful.append(...page.doubtful.map(e => item(e, e.person)));
    next = page.next;
    more.hidden = next === null;
  };
  more.addEventListener("click", load);
  view().replaceChildren(el("h2", {}, "Faces in no group"), unassigned,
    el("h2", {}, "The least certain members, largest people first"), doubtful, el("p", {}, more));
  const faces = await get("/api/who/unassigned");
  unassigned.replaceChildren(...(faces.length ? faces.map(e => item(e, null)) : ["None."]));
  await load();
}

// --- History ------------------------------------------------------------------------------------------
async function showHistory() {
  const entries = (await get("/api/journal")).reverse();
  const last = entries.find(e => !e.undone);
  view().replaceChildren(
    last ? el("p", {}, el("button", {type: "button", id: "undo", class: "primary", onclick: async () => {
      await post("/api/undo"); route();
    }}, `Undo: ${last.summary}`)) : el("p", {}, "No edit to undo."),
    el("table", {class: "journal", id: "journal"}, el("tr", {}, el("th", {}, "When"), el("th", {}, "Edit")),
      entries.map(e => el("tr", {class: e.undone ? "undone" : "", "data-id": e.id},
        el("td", {}, new Date(e.at * 1000).toLocaleString()), el("td", {}, e.summary + (e.undone ? " (undone)" : ""))))));
}

// --- routing, the scan banner -------------------------------------------------------------------------
async function route() {
  const [, page, id] = location.hash.split("/");
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("here", link.hash === `#/${page || "people"}`);
  try {
    if (page === "person" && id) await showPerson(+id);
    else if (page === "who") await showWho();
    else if (page === "history") await showHistory();
    else await showPeople();
  } catch (error) { view().replaceChildren(el("p", {class: "error-text"}, error.message)); }
}

let scanning = false;
async function watchScan() {
  try {
    const status = await get("/api/status");
    $("#scan-banner").hidden = !status.scan_running;
    if (scanning && !status.scan_running) route();
    scanning = status.scan_running;
  } catch (error) { /* the server stopped: keep the page as it is */ }
}

document.addEventListener("DOMContentLoaded", () => {
  if (location.search.includes("token=")) history.replaceState(null, "", "/" + location.hash);  // now a cookie
  $("#toast-undo").addEventListener("click", async () => { await post("/api/undo"); route(); });
  $("#viewer").addEventListener("click", () => { $("#viewer").hidden = true; });
  document.addEventListener("keydown", event => {
    if (event.key === "Escape") $("#viewer").hidden = true;
  });
  window.addEventListener("hashchange", route);
  route();
  watchScan();
  setInterval(watchScan, 4000);
});
